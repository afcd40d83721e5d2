//! The CloudFormation stack (`deploy/template.yaml`), checked without AWS: cfn-lint and the
//! security checker pass on it (`deploy/checks/lint.sh`), the checker fails on copies of it with
//! each safeguard broken, and the deployment tutorial (`deploy/README.md`) names only parameters
//! and outputs the template has. Nothing here talks to the network except `pip install` of the
//! pinned cfn-lint, once, into `target/cfn-venv`.

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
        "StreamToFunction (event-source mapping)",
    ] {
        assert!(t.contains(seen), "the checker did not look at {seen}:\n{t}");
    }
}

#[test]
fn the_only_wildcard_resource_is_the_ecr_token_on_the_sagemaker_role() {
    let t = read("deploy/template.yaml");
    assert_eq!(t.matches("Resource: \"*\"").count(), 1, "{t}");
    let at = t.find("Resource: \"*\"").unwrap();
    let before = &t[..at];
    assert!(
        before
            .trim_end()
            .ends_with("Action: ecr:GetAuthorizationToken")
    );
    // the resource it belongs to: the last two-space-indented key above it
    let owner = before
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .rfind(|k| !k.starts_with(' '))
        .unwrap();
    assert_eq!(owner, "SageMakerRole");
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
        name: "no bisecting",
        edits: &[("      BisectBatchOnFunctionError: true\n", "")],
        expect: &["StreamToFunction", "Properties.BisectBatchOnFunctionError"],
    },
    Mutation {
        name: "bisecting turned off",
        edits: &[(
            "      BisectBatchOnFunctionError: true\n",
            "      BisectBatchOnFunctionError: false\n",
        )],
        expect: &["StreamToFunction", "Properties.BisectBatchOnFunctionError"],
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
            "    Default: 3\n    MinValue: 0\n    MaxValue: 100\n",
            "    Default: 3\n    MinValue: -1\n    MaxValue: 100\n",
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
        "BisectBatchOnFunctionError: true",
        "- ReportBatchItemFailures",
    ] {
        assert!(template.contains(line), "the template lacks {line:?}");
    }
    // the Lambda reads the variable the template sets
    let lambda = sources(&root().join("deploy/lambda/src"));
    assert!(
        lambda.contains("\"ENDPOINT_NAME\""),
        "deploy/lambda does not read ENDPOINT_NAME"
    );
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
