#!/usr/bin/env python3
"""The security properties of a CloudFormation template that cfn-lint does not check.

    python deploy/checks/template_security.py deploy/template.yaml [more.yaml ...]

Run it with the Python of target/cfn-venv (deploy/checks/lint.sh makes that venv): the template
is read with cfn-lint's own decoder, so !Ref, !GetAtt, !Sub and the other short tags are
understood, and line numbers point into the file.

What must hold, and what is printed when it does not (one line per problem, naming the resource,
the property and the line; exit code 1 if there is any, 2 if a template cannot be read):

IAM, every Allow statement of every policy in the template (inline policies of roles, users and
groups; AWS::IAM::Policy, AWS::IAM::RolePolicy, AWS::IAM::UserPolicy, AWS::IAM::GroupPolicy,
AWS::IAM::ManagedPolicy):
  - no "*" or "?" in an Action, and no NotAction or NotResource;
  - no Resource that is or contains a wildcard, with three documented exceptions:
      1. ecr:GetAuthorizationToken on "*", in a statement of its own, on a role that SageMaker
         assumes (a SageMaker Model's ExecutionRoleArn) and no Lambda function uses. IAM has no
         resource to scope that action to; the pull itself (ecr:BatchGetImage,
         ecr:GetDownloadUrlForLayer) must still name the repository.
      2. cloudwatch:PutMetricData on "*", under the same rule as 1, and only with a condition
         StringEquals cloudwatch:namespace naming SageMaker's own namespaces literally
         (/aws/sagemaker/..., e.g. /aws/sagemaker/Endpoints, where an endpoint's instance metrics
         go). PutMetricData has no resource either; the condition is what limits it. Without it
         the role could write into any namespace, other services' and applications' included.
      3. the log streams of a log group this template creates
         (...:log-group:${SomeLogGroup}:* or ...:log-stream:*): Lambda and SageMaker name their
         streams at run time, and the wildcard cannot leave that one group.
  - a parameter spliced into a Resource (!Ref or ${Param} in !Sub) must be unable to hold a
    wildcard: AllowedValues without one, or an AllowedPattern that rejects "*" and "?";
  - a role, user or group may not carry ManagedPolicyArns from outside the template (AWS managed
    policies such as AWSLambdaKinesisExecutionRole grant on "*"), and a Lambda function's role
    must be defined in the template so that the above can be checked.

DynamoDB (the consumer's state table, AWS::DynamoDB::Table):
  - every table is encrypted with a KMS key (SSESpecification.SSEEnabled: true; the default, an
    AWS owned key, leaves no record of its use in the account) and has no ResourcePolicy (which
    could open it to principals outside this template);
  - a statement with a dynamodb: action holds only dynamodb: actions, and only the item actions
    the consumer uses, dynamodb:GetItem and dynamodb:PutItem (no Scan, Query, DeleteItem,
    UpdateItem, batch or table actions, no wildcard);
  - its Resource is a table of this template, as !GetAtt <Table>.Arn: not "*", not an index or
    stream ARN, not another table;
  - the policy belongs only to roles of Lambda functions whose Environment names that table
    (!Ref <Table>, as STATE_TABLE does): no other role, user, group or unattached policy may
    reach the table.

Kinesis event-source mappings (AWS::Lambda::EventSourceMapping):
  - BisectBatchOnFunctionError false or unset: the function sends poison records to the failure
    destination itself, so a failed invocation is a failed endpoint or AWS call, retried whole;
  - FunctionResponseTypes includes ReportBatchItemFailures;
  - MaximumRetryAttempts set and bounded (0..10000; Lambda's default, -1, retries until the records
    expire and stalls the shard); through a parameter, its Default, MinValue and MaxValue must keep
    it there;
  - DestinationConfig.OnFailure.Destination set, and an SQS queue or SNS topic used there, when
    defined in the template, encrypted.

Also: every AWS::Kinesis::Stream has StreamEncryption with EncryptionType KMS and a KeyId; every
AWS::SQS::Queue is encrypted (SqsManagedSseEnabled or KmsMasterKeyId); every AWS::Logs::LogGroup
has RetentionInDays; every AWS::Lambda::Function logs to a log group of this template
(LoggingConfig.LogGroup), since the group Lambda would create itself keeps logs forever.
"""

from __future__ import annotations

import re
import sys

from cfnlint.decode import decode

ECR_TOKEN = "ecr:GetAuthorizationToken"
PUT_METRIC_DATA = "cloudwatch:PutMetricData"
NAMESPACE_KEY = "cloudwatch:namespace"
SAGEMAKER_NAMESPACES = "/aws/sagemaker/"  # the prefix of every namespace SageMaker publishes to
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")  # what the consumer calls, nothing else
PRINCIPAL_TYPES = ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group")
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::UserPolicy",
                "AWS::IAM::GroupPolicy", "AWS::IAM::ManagedPolicy")
MAX_RETRY_ATTEMPTS = 10000  # the most Lambda accepts
WILDCARD = re.compile(r"[*?]")
# probes for an AllowedPattern: if one of them matches, the parameter can hold a wildcard
WILDCARD_PROBES = ("*", "?", "a*", "*a", "a/*", "a*b", "a?b")
LOG_GROUP_TAIL = re.compile(r":log-group:\$\{(?P<group>[A-Za-z0-9]+)\}(?::log-stream)?:\*$")
SUB_VAR = re.compile(r"\$\{(?!!)([^}]+)\}")


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def line_of(node) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def target(value):
    """The logical id a !Ref or !GetAtt points at, and the attribute (None for a Ref)."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"], None
        if "Fn::GetAtt" in value:
            ref = value["Fn::GetAtt"]
            if isinstance(ref, str):
                ref = ref.split(".", 1)
            if isinstance(ref, list) and len(ref) == 2 and isinstance(ref[0], str):
                return ref[0], ref[1]
    return None, None


def shown(value) -> str:
    """A short rendering of a literal or intrinsic value, for messages."""
    ref, attr = target(value)
    if ref is not None:
        return f"!GetAtt {ref}.{attr}" if attr else f"!Ref {ref}"
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        text = arg if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg else arg
        return f"!{fn.removeprefix('Fn::')} {text!r}"
    return repr(value)


class Checker:
    def __init__(self, path: str, template: dict):
        self.path = path
        self.resources = template.get("Resources") or {}
        self.parameters = template.get("Parameters") or {}
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.lambda_roles: set[str] = set()
        self.sagemaker_roles: set[str] = set()
        # table -> the roles of the Lambda functions whose environment names it
        self.table_users: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ helpers
    def problem(self, resource: str, prop: str, message: str, node=None):
        line = line_of(node)
        where = f"{self.path}:{line}" if line else self.path
        self.problems.append(f"{where}: {resource}: {prop}: {message}")

    def of_type(self, *types):
        for name, res in self.resources.items():
            if isinstance(res, dict) and res.get("Type") in types:
                yield name, res, res.get("Properties") or {}

    def type_of(self, logical_id):
        res = self.resources.get(logical_id)
        return res.get("Type") if isinstance(res, dict) else None

    def param_can_be_wildcard(self, name: str) -> bool:
        param = self.parameters.get(name) or {}
        allowed = param.get("AllowedValues")
        if allowed:
            return any(WILDCARD.search(str(v)) for v in allowed)
        pattern = param.get("AllowedPattern")
        if pattern is None:
            return True
        return any(re.fullmatch(pattern, probe) for probe in WILDCARD_PROBES)

    # ------------------------------------------------------------------ IAM
    def check_iam(self):
        roles = {name: props for name, _, props in self.of_type("AWS::IAM::Role")}
        lambda_roles, sagemaker_roles = self.lambda_roles, self.sagemaker_roles
        tables = {name for name, _, _ in self.of_type("AWS::DynamoDB::Table")}
        self.table_users = {name: set() for name in tables}

        for name, _, props in self.of_type("AWS::Lambda::Function"):
            role, _ = target(props.get("Role"))
            if role in roles:
                lambda_roles.add(role)
            else:
                self.problem(name, "Properties.Role",
                             "the function's role is not defined in this template, so its "
                             "permissions cannot be checked", props.get("Role") or props)
                continue
            variables = ((props.get("Environment") or {}).get("Variables") or {})
            for value in (variables.values() if isinstance(variables, dict) else []):
                ref, attr = target(value)
                if ref in tables and attr is None:
                    self.table_users[ref].add(role)
        for name, _, props in self.of_type("AWS::SageMaker::Model"):
            role, _ = target(props.get("ExecutionRoleArn"))
            if role in roles:
                sagemaker_roles.add(role)
        for name, props in roles.items():
            services = set()
            for st in as_list((props.get("AssumeRolePolicyDocument") or {}).get("Statement")):
                if isinstance(st, dict):
                    services.update(as_list((st.get("Principal") or {}).get("Service")))
            if "lambda.amazonaws.com" in services:
                lambda_roles.add(name)
            if "sagemaker.amazonaws.com" in services:
                sagemaker_roles.add(name)

        def kind(principal, res_type):
            if res_type != "AWS::IAM::Role":
                return res_type.rsplit("::", 1)[1].lower()
            kinds = [k for k, s in (("Lambda", lambda_roles), ("SageMaker", sagemaker_roles))
                     if principal in s]
            return "/".join(kinds) + " role" if kinds else "other role"

        # inline policies and managed policy ARNs of each role, user and group
        managed = {name: props for name, _, props in self.of_type("AWS::IAM::ManagedPolicy")}
        attached_to = {name: set() for name in managed}
        for name, res, props in self.of_type(*PRINCIPAL_TYPES):
            for i, policy in enumerate(as_list(props.get("Policies"))):
                if isinstance(policy, dict):
                    self.check_document(name, f"Properties.Policies[{i}].PolicyDocument",
                                        policy.get("PolicyDocument"), {name})
            for i, arn in enumerate(as_list(props.get("ManagedPolicyArns"))):
                ref, _ = target(arn)
                if ref in managed:
                    attached_to[ref].add(name)
                else:
                    self.problem(name, f"Properties.ManagedPolicyArns[{i}]",
                                 "a managed policy from outside this template cannot be checked "
                                 "(AWS managed policies grant on \"*\"); write the statements here",
                                 arn)
            self.notes.append(f"{name} ({kind(name, res['Type'])})")

        # stand-alone policies, checked with the rules of the principals they attach to
        for name, _, props in self.of_type(*POLICY_TYPES):
            attached = set(attached_to.get(name, set()))
            for key in ("Roles", "Users", "Groups", "RoleName", "UserName", "GroupName"):
                for ref in as_list(props.get(key)):
                    r, _ = target(ref)
                    attached.add(r if r else str(ref))
            self.check_document(name, "Properties.PolicyDocument", props.get("PolicyDocument"),
                                attached)
            self.notes.append(f"{name} (policy)")

    def sagemaker_only(self, attached) -> bool:
        """Whether a policy belongs only to roles SageMaker assumes and no Lambda function uses."""
        attached = set(attached)
        return bool(attached) and attached <= self.sagemaker_roles - self.lambda_roles

    def check_document(self, resource, prop, document, attached):
        on_sagemaker_role = self.sagemaker_only(attached)
        if not isinstance(document, dict):
            self.problem(resource, prop, "not a literal policy document; cannot be checked", document)
            return
        for j, st in enumerate(as_list(document.get("Statement"))):
            where = f"{prop}.Statement[{j}]"
            if not isinstance(st, dict):
                self.problem(resource, where, "not a literal statement; cannot be checked", st)
                continue
            if st.get("Effect") == "Deny":
                continue  # a wildcard in a Deny only takes rights away
            for key in ("NotAction", "NotResource"):
                if key in st:
                    self.problem(resource, f"{where}.{key}",
                                 f"{key} allows everything not listed; list what is allowed", st[key])
            actions = as_list(st.get("Action"))
            for action in actions:
                if not isinstance(action, str):
                    self.problem(resource, f"{where}.Action", "not a literal action; cannot be checked", action)
                elif WILDCARD.search(action):
                    self.problem(resource, f"{where}.Action",
                                 f"wildcard action '{action}'; name each action", action)
            if "Resource" not in st and "NotResource" not in st:
                self.problem(resource, f"{where}.Resource", "missing", st)
            names = [a.lower() for a in actions if isinstance(a, str)]
            metrics_alone = False
            if PUT_METRIC_DATA.lower() in names:
                metrics_alone = len(actions) == 1
                self.check_metrics_statement(resource, where, st, actions, on_sagemaker_role)
            if any(a.startswith("dynamodb:") for a in names):
                self.check_table_statement(resource, where, st, actions, attached)
            for resource_value in as_list(st.get("Resource")):
                if metrics_alone and resource_value == "*":
                    continue  # exception 2: judged by check_metrics_statement
                self.check_resource(resource, f"{where}.Resource", resource_value, actions,
                                    on_sagemaker_role)

    def check_metrics_statement(self, resource, where, st, actions, sagemaker_only):
        """Exception 2: cloudwatch:PutMetricData, alone, on the SageMaker role, in SageMaker's
        namespaces only."""
        if len(actions) != 1:
            self.problem(resource, f"{where}.Action",
                         f"{PUT_METRIC_DATA} must be alone in its statement, so that its "
                         "namespace condition and its '*' resource cover nothing else",
                         st.get("Action"))
        if not sagemaker_only:
            self.problem(resource, f"{where}.Action",
                         f"{PUT_METRIC_DATA} is allowed only on a role that SageMaker assumes "
                         "(to publish the endpoint's instance metrics), never on a Lambda "
                         "function's role or anyone else's", st.get("Action"))
        condition = st.get("Condition")
        equals = condition.get("StringEquals") if isinstance(condition, dict) else None
        values = None
        if isinstance(equals, dict):
            for key, value in equals.items():
                if isinstance(key, str) and key.lower() == NAMESPACE_KEY.lower():
                    values = as_list(value)
        if not values:
            self.problem(resource, f"{where}.Condition",
                         f"{PUT_METRIC_DATA} without a StringEquals {NAMESPACE_KEY} condition "
                         "lets the role write metrics into any namespace; limit it to "
                         "SageMaker's (/aws/sagemaker/Endpoints)", condition or st)
            return
        for value in values:
            if (not isinstance(value, str) or WILDCARD.search(value)
                    or not value.startswith(SAGEMAKER_NAMESPACES)):
                self.problem(resource, f"{where}.Condition.StringEquals.{NAMESPACE_KEY}",
                             f"{value!r} is not one of SageMaker's own namespaces, named "
                             f"literally ({SAGEMAKER_NAMESPACES}...)", value)

    def check_table_statement(self, resource, where, st, actions, attached):
        """The state table: only GetItem and PutItem, on the table's own ARN, from the role of a
        Lambda function that is given the table's name."""
        allowed = {a.lower(): a for a in TABLE_ACTIONS}
        others = [a for a in actions if not str(a).lower().startswith("dynamodb:")]
        if others:
            self.problem(resource, f"{where}.Action",
                         "dynamodb actions must be in a statement of their own (here with "
                         f"{', '.join(map(str, others))}), so that its Resource is the table alone",
                         st.get("Action"))
        for action in actions:
            if str(action).lower().startswith("dynamodb:") and str(action).lower() not in allowed:
                self.problem(resource, f"{where}.Action",
                             f"'{action}' is not one of the item actions the consumer uses "
                             f"({', '.join(TABLE_ACTIONS)}); the state table allows nothing else",
                             action)
        tables = []
        for value in as_list(st.get("Resource")):
            ref, attr = target(value)
            if ref is not None and attr == "Arn" and self.type_of(ref) == "AWS::DynamoDB::Table":
                tables.append(ref)
            else:
                self.problem(resource, f"{where}.Resource",
                             f"dynamodb actions may name only a table of this template, as "
                             f"!GetAtt <Table>.Arn (not '*', an index or stream ARN, or another "
                             f"table; this is {shown(value)})", value)
        for table in tables:
            users = self.table_users.get(table, set())
            if not attached or not set(attached) <= users:
                self.problem(resource, f"{where}.Resource",
                             f"only the role of a Lambda function given {table}'s name in its "
                             f"environment (!Ref {table}) may reach {table} "
                             f"({', '.join(sorted(users)) or 'no such function'}); this policy "
                             f"belongs to {', '.join(sorted(attached)) or 'no principal of this template'}",
                             st.get("Resource"))

    def check_resource(self, resource, prop, value, actions, on_sagemaker_role):
        if isinstance(value, str):
            if value == "*" and actions == [ECR_TOKEN]:
                if not on_sagemaker_role:
                    self.problem(resource, prop,
                                 f"Resource '*' for {ECR_TOKEN} is allowed only on a role that "
                                 "SageMaker assumes (to pull the inference image), never on a "
                                 "Lambda function's role", value)
            elif WILDCARD.search(value):
                hint = (f" (only {ECR_TOKEN} and, under a SageMaker namespace condition, "
                        f"{PUT_METRIC_DATA} may use '*', each alone in its statement, and only on "
                        "the SageMaker role)") if on_sagemaker_role else ""
                self.problem(resource, prop,
                             f"wildcard resource '{value}' for {', '.join(map(str, actions))}; "
                             f"name this stack's resource{hint}", value)
            return
        if not isinstance(value, dict) or len(value) != 1:
            self.problem(resource, prop, "not a literal resource; cannot be checked", value)
            return
        (fn, arg), = value.items()
        ref, attr = target(value)
        if ref is not None:
            if ref in self.parameters and self.param_can_be_wildcard(ref):
                self.problem(resource, prop,
                             f"comes from parameter {ref}, which could be '*' (give it an "
                             "AllowedPattern or AllowedValues)", value)
            elif ref not in self.parameters and ref not in self.resources and not ref.startswith("AWS::"):
                self.problem(resource, prop, f"refers to {ref}, which this template does not define", value)
            return
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
            if not isinstance(text, str):
                self.problem(resource, prop, "not a literal !Sub string; cannot be checked", value)
                return
            tail = LOG_GROUP_TAIL.search(text)
            checked = text
            if tail and self.type_of(tail.group("group")) == "AWS::Logs::LogGroup":
                checked = text[: tail.start()]  # exception 2: the streams of our own log group
            if WILDCARD.search(checked):
                self.problem(resource, prop,
                             f"wildcard in '{text}' for {', '.join(map(str, actions))}; only the "
                             "log streams of a log group of this template may be matched by '*'",
                             value)
            for var in SUB_VAR.findall(text):
                if var in variables:
                    self.check_resource(resource, prop, variables[var], actions, False)
                elif "." not in var and var in self.parameters and self.param_can_be_wildcard(var):
                    self.problem(resource, prop,
                                 f"splices parameter {var} into '{text}', and {var} could be '*' "
                                 "(give it an AllowedPattern or AllowedValues)", value)
            return
        if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            for branch in arg[1:]:
                if branch != {"Ref": "AWS::NoValue"}:
                    self.check_resource(resource, prop, branch, actions, on_sagemaker_role)
            return
        self.problem(resource, prop, f"built with {fn}; write it as !Ref, !GetAtt or !Sub so it can be checked", value)

    # ------------------------------------------------------------------ event-source mappings
    def check_mappings(self):
        for name, _, props in self.of_type("AWS::Lambda::EventSourceMapping"):
            source, _ = target(props.get("EventSourceArn"))
            if source and self.type_of(source) not in ("AWS::Kinesis::Stream", "AWS::Kinesis::StreamConsumer"):
                continue  # queues and other sources have other failure settings
            self.notes.append(f"{name} (event-source mapping)")
            bisect = props.get("BisectBatchOnFunctionError")
            if bisect in (True, "true", "True"):
                self.problem(name, "Properties.BisectBatchOnFunctionError",
                             "must be false (or unset): the function sends poison records to the "
                             "failure destination itself, so a failed invocation is a failed "
                             "endpoint or AWS call, to be retried whole; splitting it only "
                             "multiplies the calls to an endpoint that is failing or throttling",
                             props)
            types = as_list(props.get("FunctionResponseTypes"))
            if "ReportBatchItemFailures" not in types:
                self.problem(name, "Properties.FunctionResponseTypes",
                             "must include ReportBatchItemFailures, so that the function's "
                             "batchItemFailures are honoured instead of being ignored (an "
                             "ignored report counts the whole batch as done)",
                             props.get("FunctionResponseTypes") or props)
            self.check_retries(name, props)
            on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            if on_failure is None:
                self.problem(name, "Properties.DestinationConfig.OnFailure",
                             "no on-failure destination: batches that exhaust their retries "
                             "would be dropped without a trace", props)
            else:
                dest, _ = target(on_failure)
                dest_props = (self.resources.get(dest) or {}).get("Properties") or {} if dest else {}
                if self.type_of(dest) == "AWS::SQS::Queue" and not self.queue_encrypted(dest_props):
                    self.problem(name, "Properties.DestinationConfig.OnFailure.Destination",
                                 f"the queue {dest} is not encrypted", on_failure)
                if self.type_of(dest) == "AWS::SNS::Topic" and not dest_props.get("KmsMasterKeyId"):
                    self.problem(name, "Properties.DestinationConfig.OnFailure.Destination",
                                 f"the topic {dest} is not encrypted", on_failure)

    def check_retries(self, name, props):
        prop = "Properties.MaximumRetryAttempts"
        value = props.get("MaximumRetryAttempts")
        if value is None:
            self.problem(name, prop, "not set: Lambda's default (-1) retries a failing batch until "
                         "its records expire, stalling the shard", props)
            return
        ref, _ = target(value)
        if ref is not None:
            param = self.parameters.get(ref)
            if param is None:
                self.problem(name, prop, f"refers to {ref}, which is not a parameter", value)
                return
            lo, hi, default = param.get("MinValue"), param.get("MaxValue"), param.get("Default")
            if lo is None or hi is None or not 0 <= float(lo) <= float(hi) <= MAX_RETRY_ATTEMPTS:
                self.problem(name, prop, f"parameter {ref} must have MinValue >= 0 and MaxValue <= "
                             f"{MAX_RETRY_ATTEMPTS} (it has {lo} and {hi})", param)
            elif default is None or not float(lo) <= float(default) <= float(hi):
                self.problem(name, prop, f"parameter {ref}'s Default ({default}) must lie in "
                             f"{lo}..{hi}", param)
            return
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.problem(name, prop, f"'{value}' is not a number", value)
            return
        if not 0 <= number <= MAX_RETRY_ATTEMPTS:
            self.problem(name, prop, f"{number} is unbounded or out of range; use 0..{MAX_RETRY_ATTEMPTS}"
                         + (" (-1 retries until the records expire)" if number == -1 else ""), props)

    # ------------------------------------------------------------------ encryption and logs
    @staticmethod
    def queue_encrypted(props) -> bool:
        return props.get("SqsManagedSseEnabled") in (True, "true", "True") or bool(props.get("KmsMasterKeyId"))

    def check_tables(self):
        for name, _, props in self.of_type("AWS::DynamoDB::Table"):
            self.notes.append(f"{name} (state table)")
            sse = props.get("SSESpecification")
            enabled = isinstance(sse, dict) and sse.get("SSEEnabled") in (True, "true", "True")
            if not enabled:
                self.problem(name, "Properties.SSESpecification",
                             "the table must be encrypted with a KMS key (SSESpecification: "
                             "SSEEnabled: true, with aws/dynamodb or a KMSMasterKeyId); the "
                             "default AWS owned key leaves no record of its use in this account",
                             sse if sse is not None else props)
            elif sse.get("SSEType", "KMS") != "KMS":
                self.problem(name, "Properties.SSESpecification.SSEType",
                             f"must be KMS, not {sse.get('SSEType')!r}", sse)
            if props.get("ResourcePolicy") is not None:
                self.problem(name, "Properties.ResourcePolicy",
                             "a resource policy can open the table to principals outside this "
                             "template; only the consumer's role may reach it, through its own "
                             "policy", props.get("ResourcePolicy"))

    def check_encryption_and_logs(self):
        for name, _, props in self.of_type("AWS::Kinesis::Stream"):
            enc = props.get("StreamEncryption")
            if not isinstance(enc, dict):
                self.problem(name, "Properties.StreamEncryption",
                             "not set: records would be stored unencrypted (use EncryptionType KMS, "
                             "KeyId alias/aws/kinesis)", props)
            else:
                if enc.get("EncryptionType") != "KMS":
                    self.problem(name, "Properties.StreamEncryption.EncryptionType",
                                 f"must be KMS, not {enc.get('EncryptionType')!r}", enc)
                if not enc.get("KeyId"):
                    self.problem(name, "Properties.StreamEncryption.KeyId", "missing", enc)
        for name, _, props in self.of_type("AWS::SQS::Queue"):
            if not self.queue_encrypted(props):
                self.problem(name, "Properties.SqsManagedSseEnabled",
                             "the queue is not encrypted (set SqsManagedSseEnabled: true or a "
                             "KmsMasterKeyId)", props)
        for name, _, props in self.of_type("AWS::Logs::LogGroup"):
            if props.get("RetentionInDays") is None:
                self.problem(name, "Properties.RetentionInDays",
                             "not set: the log group would keep (and bill for) logs forever", props)
        for name, _, props in self.of_type("AWS::Lambda::Function"):
            group, _ = target((props.get("LoggingConfig") or {}).get("LogGroup"))
            if self.type_of(group) != "AWS::Logs::LogGroup":
                self.problem(name, "Properties.LoggingConfig.LogGroup",
                             "the function must log to a log group of this template (one with a "
                             "retention); otherwise Lambda creates one that never expires", props)

    def run(self):
        for name, res in self.resources.items():
            kind = res.get("Type", "") if isinstance(res, dict) else ""
            if kind.startswith("AWS::Serverless::"):
                self.problem(name, "Type", f"{kind} is not checked (this checker reads plain "
                             "CloudFormation); write it as the resources SAM would generate", res)
        self.check_iam()
        self.check_tables()
        self.check_mappings()
        self.check_encryption_and_logs()
        return self.problems


def main(argv):
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    status = 0
    for path in argv:
        template, matches = decode(path)
        if template is None or matches:
            for m in matches:
                print(f"{path}: cannot read the template: {m}", file=sys.stderr)
            status = max(status, 2)
            continue
        checker = Checker(path, template)
        problems = checker.run()
        if problems:
            for p in problems:
                print(p)
            print(f"template_security: {path}: {len(problems)} problem(s)")
            status = max(status, 1)
        else:
            print(f"template_security: {path}: no problems (checked {', '.join(checker.notes)})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
