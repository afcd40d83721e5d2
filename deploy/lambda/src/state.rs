//! Each series' consumer state in DynamoDB: one item per series.
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `series` | S (partition key) | the series' name |
//! | `position` | S | the sequence number of the last record applied |
//! | `state` | S | the whole [`SeriesState`] as JSON (position, rows applied, context records) |
//!
//! A save is a `PutItem` conditional on the position the state was loaded at
//! (`attribute_not_exists(series)` for a new series), so of two consumers that loaded the same
//! state only one can save; the other gets [`StoreError::Conflict`], fails its invocation, and
//! its re-delivered records are then skipped as applied. Reads are strongly consistent, so a
//! consumer never starts from a state older than the last save. The function's role needs only
//! `dynamodb:GetItem` and `dynamodb:PutItem` on the table.

use std::collections::HashMap;

use anomaly_kit::stream::{BoxFuture, SeriesState, StateStore, StoreError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

/// The table's partition key.
pub const SERIES_ATTR: &str = "series";
const POSITION_ATTR: &str = "position";
const STATE_ATTR: &str = "state";

/// A [`StateStore`] on a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand, key `series`) unless it exists, and waits until it is
    /// active — for local servers; on AWS the CloudFormation template creates it.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let unavailable = |e: String| StoreError::Unavailable(e);
        if self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_err()
        {
            let created = self
                .client
                .create_table()
                .table_name(&self.table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(SERIES_ATTR)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| unavailable(e.to_string()))?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(SERIES_ATTR)
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(|e| unavailable(e.to_string()))?,
                )
                .send()
                .await;
            if let Err(e) = created {
                // another process may have created it in between
                let exists = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception());
                if !exists {
                    return Err(unavailable(DisplayErrorContext(&e).to_string()));
                }
            }
        }
        for _ in 0..600 {
            let status = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .ok()
                .and_then(|d| d.table().and_then(|t| t.table_status().cloned()));
            if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(unavailable(format!(
            "table '{}' did not become ACTIVE within 30 s",
            self.table
        )))
    }
}

impl StateStore for DynamoStore {
    fn load<'a>(
        &'a self,
        series: &'a str,
    ) -> BoxFuture<'a, Result<Option<SeriesState>, StoreError>> {
        Box::pin(async move {
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(SERIES_ATTR, AttributeValue::S(series.to_string()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
            let Some(item) = item.item() else {
                return Ok(None);
            };
            let corrupt = |detail: String| StoreError::Corrupt {
                series: series.to_string(),
                detail,
            };
            let json = match item.get(STATE_ATTR) {
                Some(AttributeValue::S(s)) => s,
                _ => return Err(corrupt(format!("no string attribute '{STATE_ATTR}'"))),
            };
            let state: SeriesState =
                serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
            match item.get(POSITION_ATTR) {
                Some(AttributeValue::S(p)) if *p == state.position => Ok(Some(state)),
                _ => Err(corrupt(format!(
                    "attribute '{POSITION_ATTR}' does not match the state's position"
                ))),
            }
        })
    }

    fn save<'a>(
        &'a self,
        series: &'a str,
        expected: Option<&'a str>,
        state: &'a SeriesState,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(state)
                .map_err(|e| StoreError::Unavailable(format!("cannot encode the state: {e}")))?;
            let item: HashMap<String, AttributeValue> = [
                (SERIES_ATTR, AttributeValue::S(series.to_string())),
                (POSITION_ATTR, AttributeValue::S(state.position.clone())),
                (STATE_ATTR, AttributeValue::S(json)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            let put = match expected {
                None => put
                    .condition_expression("attribute_not_exists(#s)")
                    .expression_attribute_names("#s", SERIES_ATTR),
                Some(p) => put
                    .condition_expression("#p = :p")
                    .expression_attribute_names("#p", POSITION_ATTR)
                    .expression_attribute_values(":p", AttributeValue::S(p.to_string())),
            };
            match put.send().await {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    Err(StoreError::Conflict {
                        series: series.to_string(),
                        expected: expected.map(str::to_string),
                    })
                }
                Err(e) => Err(StoreError::Unavailable(DisplayErrorContext(&e).to_string())),
            }
        })
    }
}
