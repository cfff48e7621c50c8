#!/usr/bin/env bash
# The schema repository's CI steps, one per argument, run by .gitlab-ci.yml
# and .github/workflows/schemas.yml (and by Cairn's own CI, so this example
# cannot rot):
#
#   deps      write Cairn's options.proto and protovalidate's validate.proto
#             into cairn-deps/ (offline; the Buf Schema Registry is not needed)
#   lint      buf lint and buf format
#   breaking  buf breaking against $BASE_REF (default origin/main)
#   check     cairn schema check: what pushing would do, registering nothing
#   push      cairn schema push: register the schemas, create their topics
#
# cairn reads the registry and Kafka from the environment:
# CAIRN_REGISTRY_ADDR, CAIRN_REGISTRY_TOKEN (a schema owner's API key for
# push; a reader's is enough for check) and CAIRN_KAFKA_BROKERS (push
# creates the topics the events declare).
set -euo pipefail
cd "$(dirname "$0")"
CAIRN=${CAIRN:-cairn}
BUF=${BUF:-buf}

for step in "$@"; do
	echo "--- $step"
	case $step in
	deps)
		"$CAIRN" schema deps cairn-deps
		;;
	lint)
		"$BUF" lint
		"$BUF" format --diff --exit-code proto
		;;
	breaking)
		base=${BASE_REF:-origin/main}
		prefix=$(git rev-parse --show-prefix)
		if ! git cat-file -e "$base:${prefix}buf.yaml" 2>/dev/null; then
			echo "buf breaking: $base has no schemas here; nothing to compare"
			continue
		fi
		against=$(mktemp -d)
		trap 'rm -rf "$against"' EXIT
		git -C "$(git rev-parse --show-toplevel)" archive "$base:$prefix" | tar -x -C "$against"
		(cd "$against" && "$CAIRN" schema deps cairn-deps >/dev/null && "$BUF" build proto -o image.binpb)
		"$BUF" breaking proto --against "$against/image.binpb"
		echo "buf breaking: nothing breaks against $base"
		;;
	check)
		"$CAIRN" schema check .
		;;
	push)
		"$CAIRN" schema push .
		;;
	*)
		echo "ci.sh: unknown step $step (want deps, lint, breaking, check or push)" >&2
		exit 2
		;;
	esac
done
