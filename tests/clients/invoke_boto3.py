"""Calls a local anomaly-kit server the way the tutorial's Lambda calls SageMaker: boto3's
sagemaker-runtime client, with only the endpoint URL pointed at loopback. Credentials come from
the environment (the default chain); the local server does not check them.

Usage: invoke_boto3.py ENDPOINT_URL BODY_JSON_FILE  -> prints the JSON answer
"""
import sys

import boto3

client = boto3.client("sagemaker-runtime", endpoint_url=sys.argv[1], region_name="us-east-1")
with open(sys.argv[2], "rb") as f:
    body = f.read()
response = client.invoke_endpoint(EndpointName="anomaly-kit-local", ContentType="application/json", Body=body)
print(response["Body"].read().decode("utf-8"))
