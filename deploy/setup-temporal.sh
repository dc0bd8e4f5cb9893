#!/bin/sh
# Registers Termshift's namespace and its typed custom search attributes on a Temporal server
# (compose service `temporal-setup`, after the server is healthy and before any worker starts).
# Idempotent: what already exists is kept, so it runs on every `docker compose up`.
#
#   TEMPORAL_ADDRESS               server frontend               (default temporal:7233)
#   TEMPORAL_NAMESPACE             namespace of the workers      (default termshift)
#   TEMPORAL_NAMESPACE_RETENTION   how long closed workflows stay (default 720h = 30 days)
#
# The attributes must be those of termshift/temporal.py SEARCH_ATTRIBUTES, with the same types
# (tests/deploy/test_compose.py checks it).
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-termshift}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-720h}"
ATTEMPTS="${SETUP_ATTEMPTS:-60}"
DELAY="${SETUP_DELAY_SECONDS:-2}"

log() {
    echo "setup-temporal: $*"
}

# 1. The server answers and is SERVING.
attempt=1
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
        log "ERROR: the Temporal server at $ADDRESS is not healthy after $ATTEMPTS attempts"
        temporal operator cluster health --address "$ADDRESS" || true
        exit 1
    fi
    log "waiting for the Temporal server at $ADDRESS ($attempt/$ATTEMPTS)"
    attempt=$((attempt + 1))
    sleep "$DELAY"
done
log "Temporal server at $ADDRESS is healthy"

# 2. The namespace.
attempt=1
while :; do
    if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" \
        >/dev/null 2>&1; then
        log "namespace $NAMESPACE exists"
        break
    fi
    if output=$(temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" \
        --retention "$RETENTION" --description "Termshift coworking contracts" 2>&1); then
        log "namespace $NAMESPACE created (retention $RETENTION)"
        break
    fi
    case "$output" in
        *"already exists"* | *AlreadyExists* | *"already registered"*)
            log "namespace $NAMESPACE already exists"
            break
            ;;
    esac
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
        log "ERROR: cannot create namespace $NAMESPACE: $output"
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep "$DELAY"
done

# 3. The search attributes. A namespace just created takes a few seconds to be known to every
# service of the server, hence the retries.
create_search_attribute() {
    name="$1"
    type="$2"
    attempt=1
    while :; do
        if output=$(temporal operator search-attribute create --address "$ADDRESS" \
            --namespace "$NAMESPACE" --name "$name" --type "$type" 2>&1); then
            log "search attribute $name ($type) registered"
            return 0
        fi
        case "$output" in
            *"different type"*)
                log "ERROR: search attribute $name exists with another type than $type: $output"
                return 1
                ;;
            *"already exists"* | *AlreadyExists*)
                log "search attribute $name ($type) already registered"
                return 0
                ;;
        esac
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            log "ERROR: cannot register search attribute $name ($type): $output"
            return 1
        fi
        attempt=$((attempt + 1))
        sleep "$DELAY"
    done
}

create_search_attribute ContractId Keyword
create_search_attribute CustomerId Keyword
create_search_attribute LocationId Keyword
create_search_attribute PlanCode Keyword
create_search_attribute NextPlanCode Keyword
create_search_attribute ContractStatus Keyword
create_search_attribute NextInvoiceAt Datetime
create_search_attribute CancellationAt Datetime
create_search_attribute CommitmentEndAt Datetime
create_search_attribute FreezeStatus Keyword
create_search_attribute PriceScheduled Bool

temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE"
log "done: namespace $NAMESPACE is ready for Termshift workers"
