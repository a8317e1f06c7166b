#!/bin/sh
# One-shot: our namespace and refundwatch's search attributes (temporalio/admin-tools image).
# The attribute list must match workflows/search_attributes.py (a test checks it).
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do sleep 3; done
temporal operator namespace describe -n "$ns" --address "$TEMPORAL_ADDRESS" \
  || temporal operator namespace create -n "$ns" --retention 30d --address "$TEMPORAL_ADDRESS"
for attr in RefundMerchantId=Keyword RefundAmountMinor=Int RefundRiskScore=Int \
            RefundStage=Keyword RefundDeadline=Datetime RefundOutcome=Keyword; do
  temporal operator search-attribute create --namespace "$ns" --address "$TEMPORAL_ADDRESS" \
    --name "${attr%%=*}" --type "${attr#*=}" || true   # exists already on a re-run
done
echo "namespace $ns and search attributes ready"
