#!/usr/bin/env bash
# Static checks of the CloudFormation template: cfn-lint (from PyPI, pinned, installed once into
# target/cfn-venv), then the security properties cfn-lint does not look at
# (deploy/checks/template_security.py). `cargo test --test template` runs this.
#
#   bash deploy/checks/lint.sh                  # checks deploy/template.yaml
#   bash deploy/checks/lint.sh other.yaml       # or the templates named
set -euo pipefail
cd "$(dirname "$0")/../.."
CFN_LINT_VERSION=1.58.0
venv=target/cfn-venv
if [ "$("$venv/bin/cfn-lint" --version 2>/dev/null)" != "cfn-lint $CFN_LINT_VERSION" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "cfn-lint==$CFN_LINT_VERSION"
fi
if [ "$#" -eq 0 ]; then
  set -- deploy/template.yaml
fi
for template in "$@"; do
  "$venv/bin/cfn-lint" -- "$template"
  echo "cfn-lint $CFN_LINT_VERSION: $template passes"
  "$venv/bin/python" deploy/checks/template_security.py "$template"
done
