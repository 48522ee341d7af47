#!/bin/sh
# Registers the case search attributes (DESIGN §5), one per call: CLI 1.x registers only the first
# when given several --name. Re-running is harmless (existing attributes are reported and skipped).
set -u
ns="${TEMPORAL_NAMESPACE:-default}"
for spec in CaseStatus:Keyword CaseStep:Keyword IssueType:Keyword MerchantId:Keyword \
            OrderId:Keyword Priority:Keyword AssignedTo:Keyword SlaBreached:Bool; do
  name="${spec%%:*}"; type="${spec##*:}"
  temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" --yes \
    || echo "search attribute $name: already there or not created (see above)"
done
