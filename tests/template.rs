//! The CloudFormation stack (`deploy/template.yaml`), checked without AWS: cfn-lint and the
//! security checker pass on it (`deploy/checks/lint.sh`), the checker fails on copies of it with
//! each safeguard broken (the state table's access and encryption among them), the deployment
//! tutorial (`deploy/README.md`) names only parameters and outputs the template has, and its
//! build commands make what AWS accepts. Nothing here talks to the network except `pip install`
//! of the pinned cfn-lint, once, into `target/cfn-venv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `deploy/checks/lint.sh`, run once per test binary: it also makes the venv the checker runs in.
fn lint() -> &'static Output {
    static LINT: OnceLock<Output> = OnceLock::new();
    LINT.get_or_init(|| {
        Command::new("bash")
            .arg(root().join("deploy/checks/lint.sh"))
            .output()
            .expect("bash runs")
    })
}

/// The security checker alone, on a template text written to a temporary file.
fn check(template: &str) -> Output {
    let out = lint();
    assert!(
        out.status.success(),
        "lint.sh failed, so the venv may be missing:\n{}",
        text(out)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, template).unwrap();
    Command::new(root().join("target/cfn-venv/bin/python"))
        .arg(root().join("deploy/checks/template_security.py"))
        .arg(&path)
        .output()
        .expect("the venv's python runs")
}

#[test]
fn cfn_lint_and_the_security_check_pass() {
    let out = lint();
    let t = text(out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("cfn-lint 1.58.0: deploy/template.yaml passes"),
        "{t}"
    );
    assert!(
        t.contains("template_security: deploy/template.yaml: no problems"),
        "{t}"
    );
    // the checker recognised the roles and the mapping it holds to the rules
    for seen in [
        "FunctionRole (Lambda role)",
        "SageMakerRole (SageMaker role)",
        "StreamWriterPolicy (policy)",
        "StateTable (state table)",
        "StreamToFunction (event-source mapping)",
    ] {
        assert!(t.contains(seen), "the checker did not look at {seen}:\n{t}");
    }
}

#[test]
fn the_only_wildcard_resources_are_the_two_exceptions_on_the_sagemaker_role() {
    let t = read("deploy/template.yaml");
    let mut actions = Vec::new();
    for (at, _) in t.match_indices("Resource: \"*\"") {
        let before = &t[..at];
        // the line just above it names the action
        let action = before.trim_end().lines().last().unwrap().trim().to_string();
        // the resource it belongs to: the last two-space-indented key above it
        let owner = before
            .lines()
            .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
            .rfind(|k| !k.starts_with(' '))
            .unwrap();
        assert_eq!(
            owner, "SageMakerRole",
            "{action} on \"*\" outside the SageMaker role"
        );
        actions.push(action);
    }
    actions.sort();
    assert_eq!(
        actions,
        [
            "Action: cloudwatch:PutMetricData",
            "Action: ecr:GetAuthorizationToken"
        ],
        "{t}"
    );
    // PutMetricData is held to SageMaker's endpoint namespace
    let at = t.find("Action: cloudwatch:PutMetricData").unwrap();
    let statement: Vec<&str> = t[at..].lines().take(5).map(str::trim).collect();
    assert_eq!(
        statement,
        [
            "Action: cloudwatch:PutMetricData",
            "Resource: \"*\"",
            "Condition:",
            "StringEquals:",
            "cloudwatch:namespace: /aws/sagemaker/Endpoints",
        ]
    );
}

/// One way of breaking the template, and what the checker must then say.
struct Mutation {
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    expect: &'static [&'static str],
}

const MUTATIONS: &[Mutation] = &[
    Mutation {
        name: "a wildcard action in the Lambda's policy",
        edits: &[(
            "                  - kinesis:GetRecords\n",
            "                  - kinesis:*\n",
        )],
        expect: &["FunctionRole", "Statement[0].Action", "'kinesis:*'"],
    },
    Mutation {
        name: "the Lambda may invoke any endpoint",
        edits: &[(
            "Action: sagemaker:InvokeEndpoint\n                Resource: !Ref Endpoint\n",
            "Action: sagemaker:InvokeEndpoint\n                Resource: \"*\"\n",
        )],
        expect: &[
            "FunctionRole",
            "Statement[0].Resource",
            "sagemaker:InvokeEndpoint",
        ],
    },
    Mutation {
        name: "the ECR token exception on the Lambda's role",
        edits: &[(
            "                Resource: !GetAtt DeadLetterQueue.Arn\n",
            "                Resource: !GetAtt DeadLetterQueue.Arn\n              - Effect: Allow\n                Action: ecr:GetAuthorizationToken\n                Resource: \"*\"\n",
        )],
        expect: &[
            "FunctionRole",
            "Resource",
            "never on a Lambda function's role",
        ],
    },
    Mutation {
        name: "the Lambda may write to any log group",
        edits: &[("log-group:${FunctionLogGroup}:*", "log-group:/aws/lambda/*")],
        expect: &["FunctionRole", "Resource", "log-group:/aws/lambda/*"],
    },
    Mutation {
        name: "an AWS managed policy on the Lambda's role",
        edits: &[(
            "      Description: Execution role of the anomaly-kit Lambda",
            "      ManagedPolicyArns:\n        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole\n      Description: Execution role of the anomaly-kit Lambda",
        )],
        expect: &["FunctionRole", "ManagedPolicyArns[0]"],
    },
    Mutation {
        name: "SageMaker may pull from any repository",
        edits: &[(
            "Resource: !Sub arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${ImageRepository}\n",
            "Resource: \"*\"\n",
        )],
        expect: &[
            "SageMakerRole",
            "Statement[0].Resource",
            "ecr:BatchGetImage",
        ],
    },
    Mutation {
        name: "a wildcard action on the SageMaker role",
        edits: &[(
            "                  - ecr:BatchGetImage\n",
            "                  - ecr:*\n",
        )],
        expect: &["SageMakerRole", "Action", "'ecr:*'"],
    },
    Mutation {
        name: "a repository name that could be a wildcard",
        edits: &[(
            "    AllowedPattern: \"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$\"\n",
            "",
        )],
        expect: &["SageMakerRole", "ImageRepository could be '*'"],
    },
    Mutation {
        name: "bisecting turned on",
        edits: &[(
            "      BisectBatchOnFunctionError: false\n",
            "      BisectBatchOnFunctionError: true\n",
        )],
        expect: &[
            "StreamToFunction",
            "Properties.BisectBatchOnFunctionError",
            "must be false",
        ],
    },
    Mutation {
        name: "no ReportBatchItemFailures",
        edits: &[(
            "      FunctionResponseTypes:\n        - ReportBatchItemFailures\n",
            "",
        )],
        expect: &[
            "StreamToFunction",
            "FunctionResponseTypes",
            "ReportBatchItemFailures",
        ],
    },
    Mutation {
        name: "no retry limit",
        edits: &[(
            "      MaximumRetryAttempts: !Ref MaximumRetryAttempts\n",
            "",
        )],
        expect: &[
            "StreamToFunction",
            "Properties.MaximumRetryAttempts",
            "not set",
        ],
    },
    Mutation {
        name: "infinite retries",
        edits: &[(
            "      MaximumRetryAttempts: !Ref MaximumRetryAttempts\n",
            "      MaximumRetryAttempts: -1\n",
        )],
        expect: &["StreamToFunction", "Properties.MaximumRetryAttempts", "-1"],
    },
    Mutation {
        name: "a retry parameter without an upper bound",
        edits: &[(
            "    Default: 10000\n    MinValue: 0\n    MaxValue: 10000\n",
            "    Default: 10000\n    MinValue: -1\n    MaxValue: 10000\n",
        )],
        expect: &["StreamToFunction", "MaximumRetryAttempts", "MinValue >= 0"],
    },
    Mutation {
        name: "no on-failure destination",
        edits: &[(
            "      DestinationConfig:\n        OnFailure:\n          Destination: !GetAtt DeadLetterQueue.Arn\n",
            "",
        )],
        expect: &["StreamToFunction", "Properties.DestinationConfig.OnFailure"],
    },
    Mutation {
        name: "an unencrypted dead-letter queue",
        edits: &[("      SqsManagedSseEnabled: true\n", "")],
        expect: &["DeadLetterQueue", "not encrypted"],
    },
    Mutation {
        name: "no stream encryption",
        edits: &[(
            "      StreamEncryption:\n        EncryptionType: KMS\n        KeyId: alias/aws/kinesis\n",
            "",
        )],
        expect: &["Stream: Properties.StreamEncryption", "unencrypted"],
    },
    Mutation {
        name: "log groups without retention",
        edits: &[("      RetentionInDays: !Ref LogRetentionInDays\n", "")],
        expect: &[
            "FunctionLogGroup: Properties.RetentionInDays",
            "EndpointLogGroup: Properties.RetentionInDays",
        ],
    },
    Mutation {
        name: "the function logs to a group Lambda makes itself",
        edits: &[(
            "      LoggingConfig:\n        LogGroup: !Ref FunctionLogGroup\n        LogFormat: Text\n",
            "",
        )],
        expect: &["Function: Properties.LoggingConfig.LogGroup"],
    },
    Mutation {
        name: "any DynamoDB action on the state table",
        edits: &[(
            "                  - dynamodb:GetItem\n                  - dynamodb:PutItem\n",
            "                  - dynamodb:*\n",
        )],
        expect: &[
            "FunctionRole",
            "'dynamodb:*'",
            "the item actions the consumer uses",
        ],
    },
    Mutation {
        name: "the state table's actions on every resource",
        edits: &[(
            "                Resource: !GetAtt StateTable.Arn\n",
            "                Resource: \"*\"\n",
        )],
        expect: &[
            "FunctionRole",
            "wildcard resource '*' for dynamodb:GetItem",
            "may name only a table of this template",
        ],
    },
    Mutation {
        name: "a Scan on the state table",
        edits: &[(
            "                  - dynamodb:PutItem\n",
            "                  - dynamodb:PutItem\n                  - dynamodb:Scan\n",
        )],
        expect: &[
            "FunctionRole",
            "'dynamodb:Scan' is not one of the item actions",
        ],
    },
    Mutation {
        name: "a DeleteItem on the state table",
        edits: &[(
            "                  - dynamodb:PutItem\n",
            "                  - dynamodb:PutItem\n                  - dynamodb:DeleteItem\n",
        )],
        expect: &[
            "FunctionRole",
            "'dynamodb:DeleteItem' is not one of the item actions",
        ],
    },
    Mutation {
        name: "the state table's indexes too",
        edits: &[(
            "                Resource: !GetAtt StateTable.Arn\n",
            "                Resource:\n                  - !GetAtt StateTable.Arn\n                  - !Sub ${StateTable.Arn}/index/*\n",
        )],
        expect: &[
            "FunctionRole",
            "may name only a table of this template",
            "/index/*",
        ],
    },
    Mutation {
        name: "a table from outside the template",
        edits: &[(
            "                Resource: !GetAtt StateTable.Arn\n",
            "                Resource: !Sub arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/other\n",
        )],
        expect: &[
            "FunctionRole",
            "may name only a table of this template",
            "table/other",
        ],
    },
    Mutation {
        name: "the SageMaker role may read the state table",
        edits: &[(
            "                    cloudwatch:namespace: /aws/sagemaker/Endpoints\n",
            "                    cloudwatch:namespace: /aws/sagemaker/Endpoints\n        - PolicyName: read-state\n          PolicyDocument:\n            Version: \"2012-10-17\"\n            Statement:\n              - Effect: Allow\n                Action: dynamodb:GetItem\n                Resource: !GetAtt StateTable.Arn\n",
        )],
        expect: &[
            "SageMakerRole",
            "only the role of a Lambda function given StateTable's name",
            "belongs to SageMakerRole",
        ],
    },
    Mutation {
        name: "a second role granted the state table",
        edits: &[(
            "  Model:\n",
            "  ReportingRole:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal:\n              Service: ec2.amazonaws.com\n            Action: sts:AssumeRole\n      Policies:\n        - PolicyName: read-state\n          PolicyDocument:\n            Version: \"2012-10-17\"\n            Statement:\n              - Effect: Allow\n                Action:\n                  - dynamodb:GetItem\n                Resource: !GetAtt StateTable.Arn\n\n  Model:\n",
        )],
        expect: &[
            "ReportingRole",
            "may reach StateTable (FunctionRole)",
            "belongs to ReportingRole",
        ],
    },
    Mutation {
        name: "the writer's policy reaches the state table",
        edits: &[(
            "              - kinesis:DescribeStreamSummary\n            Resource: !GetAtt Stream.Arn\n",
            "              - kinesis:DescribeStreamSummary\n            Resource: !GetAtt Stream.Arn\n          - Effect: Allow\n            Action: dynamodb:GetItem\n            Resource: !GetAtt StateTable.Arn\n",
        )],
        expect: &[
            "StreamWriterPolicy",
            "belongs to no principal of this template",
        ],
    },
    Mutation {
        name: "the function is not given the state table",
        edits: &[("          STATE_TABLE: !Ref StateTable\n", "")],
        expect: &["FunctionRole", "may reach StateTable (no such function)"],
    },
    Mutation {
        name: "a resource policy on the state table",
        edits: &[(
            "      BillingMode: PAY_PER_REQUEST\n",
            "      BillingMode: PAY_PER_REQUEST\n      ResourcePolicy:\n        PolicyDocument:\n          Version: \"2012-10-17\"\n          Statement:\n            - Effect: Allow\n              Principal:\n                AWS: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:root\n              Action: dynamodb:GetItem\n              Resource: \"*\"\n",
        )],
        expect: &["StateTable: Properties.ResourcePolicy"],
    },
    Mutation {
        name: "an unencrypted state table",
        edits: &[("      SSESpecification:\n        SSEEnabled: true\n", "")],
        expect: &["StateTable: Properties.SSESpecification", "KMS key"],
    },
    Mutation {
        name: "state table encryption turned off",
        edits: &[("        SSEEnabled: true\n", "        SSEEnabled: false\n")],
        expect: &["StateTable: Properties.SSESpecification", "KMS key"],
    },
    Mutation {
        name: "PutMetricData without a namespace condition",
        edits: &[(
            "                Condition:\n                  StringEquals:\n                    cloudwatch:namespace: /aws/sagemaker/Endpoints\n",
            "",
        )],
        expect: &["SageMakerRole", "Statement[0].Condition", "any namespace"],
    },
    Mutation {
        name: "PutMetricData in any namespace",
        edits: &[(
            "                  StringEquals:\n                    cloudwatch:namespace: /aws/sagemaker/Endpoints\n",
            "                  StringLike:\n                    cloudwatch:namespace: \"*\"\n",
        )],
        expect: &["SageMakerRole", "StringEquals cloudwatch:namespace"],
    },
    Mutation {
        name: "PutMetricData in another service's namespace",
        edits: &[(
            "cloudwatch:namespace: /aws/sagemaker/Endpoints\n",
            "cloudwatch:namespace: AWS/Lambda\n",
        )],
        expect: &[
            "SageMakerRole",
            "'AWS/Lambda' is not one of SageMaker's own namespaces",
        ],
    },
    Mutation {
        name: "PutMetricData with another action",
        edits: &[(
            "                Action: cloudwatch:PutMetricData\n",
            "                Action:\n                  - cloudwatch:PutMetricData\n                  - cloudwatch:GetMetricData\n",
        )],
        expect: &[
            "SageMakerRole",
            "must be alone in its statement",
            "wildcard resource '*'",
        ],
    },
    Mutation {
        name: "PutMetricData on the Lambda's role",
        edits: &[(
            "                Resource: !GetAtt DeadLetterQueue.Arn\n",
            "                Resource: !GetAtt DeadLetterQueue.Arn\n              - Effect: Allow\n                Action: cloudwatch:PutMetricData\n                Resource: \"*\"\n                Condition:\n                  StringEquals:\n                    cloudwatch:namespace: /aws/sagemaker/Endpoints\n",
        )],
        expect: &["FunctionRole", "never on a Lambda function's role"],
    },
];

#[test]
fn the_security_check_fails_on_each_broken_copy() {
    let template = read("deploy/template.yaml");
    let mut missed = Vec::new();
    for m in MUTATIONS {
        let mut copy = template.clone();
        for (from, to) in m.edits {
            assert!(
                copy.contains(from),
                "mutation '{}': the template no longer contains {from:?}; update the test",
                m.name
            );
            copy = copy.replace(from, to);
        }
        let out = check(&copy);
        let t = text(&out);
        if out.status.code() != Some(1) {
            missed.push(format!(
                "'{}': exit code {:?}, expected 1:\n{t}",
                m.name,
                out.status.code()
            ));
            continue;
        }
        for want in m.expect {
            if !t.contains(want) {
                missed.push(format!(
                    "'{}': the report does not say {want:?}:\n{t}",
                    m.name
                ));
            }
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

#[test]
fn the_unbroken_template_passes_the_checker_from_any_path() {
    let out = check(&read("deploy/template.yaml"));
    assert!(out.status.success(), "{}", text(&out));
}

/// The names declared directly under a top-level section of the template (`Parameters:`,
/// `Outputs:`), each with whether its block has a `Default:`.
fn section(template: &str, name: &str) -> BTreeMap<String, bool> {
    let start = template
        .find(&format!("\n{name}:\n"))
        .unwrap_or_else(|| panic!("no {name}: section"));
    let mut names = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in template[start + name.len() + 3..].lines() {
        if !line.is_empty() && !line.starts_with(' ') && !line.starts_with('#') {
            break; // the next top-level section
        }
        if let Some(key) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !key.starts_with(' ')
            && !key.starts_with('#')
        {
            names.insert(key.to_string(), false);
            current = Some(key.to_string());
        } else if line.starts_with("    Default:")
            && let Some(c) = &current
        {
            names.insert(c.clone(), true);
        }
    }
    assert!(!names.is_empty(), "empty {name}: section");
    names
}

/// `Name=value` words of a text whose name is CamelCase (the template's parameter style), so
/// that shell variables such as `STACK=` and `AWS_REGION=` are not taken for parameters.
fn overrides(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '`' || c == '(')
        .filter_map(|word| {
            let (name, rest) = word.split_once('=')?;
            let camel = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric())
                && name.chars().any(|c| c.is_ascii_lowercase());
            (camel && !rest.starts_with('=')).then(|| name.to_string())
        })
        .collect()
}

fn block_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("deploy/README.md has no {marker:?}"));
    let rest = &text[at..];
    &rest[..rest.find("```").unwrap_or(rest.len())]
}

#[test]
fn the_deployment_tutorial_matches_the_template() {
    let template = read("deploy/template.yaml");
    let readme = read("deploy/README.md");
    let parameters = section(&template, "Parameters");
    let outputs = section(&template, "Outputs");

    // every Name=value on the page is a parameter of the template
    let mentioned = overrides(&readme);
    for name in &mentioned {
        assert!(
            parameters.contains_key(name),
            "deploy/README.md sets {name}=, which is not a parameter of deploy/template.yaml"
        );
    }
    // the create command is `aws cloudformation deploy` with every parameter that has no default
    let deploy = block_after(&readme, "aws cloudformation deploy \\");
    for flag in [
        "--template-file deploy/template.yaml",
        "--capabilities CAPABILITY_IAM",
        "--no-fail-on-empty-changeset",
        "--parameter-overrides",
    ] {
        assert!(
            deploy.contains(flag),
            "the deploy command lacks {flag}:\n{deploy}"
        );
    }
    let given = overrides(deploy);
    for (name, has_default) in &parameters {
        if !has_default {
            assert!(
                given.contains(name),
                "parameter {name} has no default, but the deploy command does not set it"
            );
        }
        assert!(
            readme.contains(&format!("`{name}`")),
            "deploy/README.md does not describe parameter {name}"
        );
    }
    // every output the page reads exists, and every output is described
    for piece in readme.split("$(out ").skip(1) {
        let name = &piece[..piece.find(')').unwrap()];
        assert!(
            outputs.contains_key(name),
            "deploy/README.md reads output {name}, which the template does not have"
        );
    }
    for name in outputs.keys() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "deploy/README.md does not list output {name}"
        );
    }
    assert!(readme.contains("Stacks[0].Outputs[?OutputKey=='$1'].OutputValue"));
}

/// Files under `dir`, recursively, concatenated (for a plain text search).
fn sources(dir: &Path) -> String {
    let mut all = String::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                all.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    all
}

#[test]
fn the_template_and_the_tutorial_agree_with_the_crates_they_deploy() {
    let template = read("deploy/template.yaml");
    for line in [
        "Runtime: provided.al2023",
        "Handler: bootstrap",
        "ENDPOINT_NAME: !GetAtt Endpoint.EndpointName",
        "STATE_TABLE: !Ref StateTable",
        "FAILURE_QUEUE_URL: !Ref DeadLetterQueue",
        "BisectBatchOnFunctionError: false",
        "- ReportBatchItemFailures",
        "AttributeName: series",
    ] {
        assert!(template.contains(line), "the template lacks {line:?}");
    }
    // the Lambda reads the variables the template sets
    let lambda = sources(&root().join("deploy/lambda/src"));
    for var in ["ENDPOINT_NAME", "STATE_TABLE", "FAILURE_QUEUE_URL"] {
        assert!(
            lambda.contains(&format!("\"{var}\"")),
            "deploy/lambda does not read {var}, which the template sets"
        );
    }
    // the stream writer has every flag the tutorial passes it
    let readme = read("deploy/README.md");
    let writer = read("deploy/stream-writer/src/main.rs");
    let run = block_after(&readme, "cargo run --release -p anomaly-kit-stream-writer");
    for flag in run.split_whitespace().filter_map(|w| w.strip_prefix("--")) {
        if flag.is_empty() || flag == "release" {
            continue;
        }
        let field = format!("{}:", flag.replace('-', "_"));
        let long = format!("long = \"{flag}\"");
        assert!(
            writer.contains(&field) || writer.contains(&long),
            "deploy/README.md passes --{flag} to the stream writer, which has no such flag"
        );
    }
}

/// The shell commands in a page's fenced code blocks, with continuation lines (`\`) joined.
fn commands(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.trim();
        let (part, continues) = match line.strip_suffix('\\') {
            Some(part) => (part.trim_end(), true),
            None => (line, false),
        };
        if !current.is_empty() && !part.is_empty() {
            current.push(' ');
        }
        current.push_str(part);
        if !continues && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

#[test]
fn the_tutorials_build_what_aws_accepts() {
    let template = read("deploy/template.yaml");
    let deploy = read("deploy/README.md");
    let container = read("deploy/container/README.md");
    // SageMaker refuses OCI image indexes and attestation manifests: both pages build one
    // linux/amd64 image without attestations, push it with Docker media types, and show how to
    // check what the registry holds; and they create the repository alike
    for (page, text) in [
        ("deploy/README.md", &deploy),
        ("deploy/container/README.md", &container),
    ] {
        let commands = commands(text);
        let builds: Vec<&String> = commands
            .iter()
            .filter(|c| c.starts_with("docker buildx build"))
            .collect();
        assert!(
            !builds.is_empty(),
            "{page} builds no image with docker buildx"
        );
        for build in &builds {
            for flag in [
                "--platform linux/amd64",
                "--provenance=false",
                "--sbom=false",
            ] {
                assert!(build.contains(flag), "{page}: {build:?} lacks {flag}");
            }
        }
        assert!(
            builds
                .iter()
                .any(|b| b.contains("push=true") && b.contains("oci-mediatypes=false")),
            "{page} pushes no image with oci-mediatypes=false"
        );
        for command in &commands {
            assert!(
                !command.starts_with("docker build ") && !command.starts_with("docker push "),
                "{page}: {command:?} may push an OCI index with attestations"
            );
        }
        for needed in [
            "imageManifestMediaType",
            "application/vnd.docker.distribution.manifest.v2+json",
            "--image-tag-mutability IMMUTABLE",
            "scanOnPush=true",
        ] {
            assert!(text.contains(needed), "{page} lacks {needed:?}");
        }
    }

    let commands = commands(&deploy);
    // the Lambda is built for the architecture the stack is given
    assert!(template.contains("AllowedValues: [x86_64, arm64]"));
    assert!(
        deploy.contains("x86_64) CARGO_LAMBDA_ARCH=--x86-64")
            && deploy.contains("arm64) CARGO_LAMBDA_ARCH=--arm64"),
        "deploy/README.md does not map ARCH to cargo lambda's flag"
    );
    let lambda_builds: Vec<&String> = commands
        .iter()
        .filter(|c| c.starts_with("cargo lambda build"))
        .collect();
    assert!(
        !lambda_builds.is_empty(),
        "deploy/README.md has no cargo lambda build"
    );
    for build in lambda_builds {
        assert!(
            build.contains("\"$CARGO_LAMBDA_ARCH\""),
            "{build:?} does not name the architecture"
        );
    }
    // the cross-compilation toolchain is pinned
    assert!(
        commands.iter().any(|c| c.contains("pip install")
            && c.contains("cargo-lambda==1.9.2")
            && c.contains("ziglang==0.17.1")),
        "deploy/README.md does not pin cargo-lambda and zig"
    );
    // teardown removes what the steps created outside the stack, and the stack
    for step in [
        "list-entities-for-policy",
        "aws cloudformation delete-stack",
        "aws ecr delete-repository",
        "aws s3 rm",
        "aws s3 rb",
    ] {
        assert!(
            commands.iter().any(|c| c.contains(step)),
            "deploy/README.md's teardown lacks {step}"
        );
    }
}
