#!/usr/bin/env bash
# Refreshes the operators' CRDs kept in deploy/k8s/crds/ (the test run validates every manifest against them
# offline and never calls this script). Run it after changing one of the pinned versions below; review the diff.
#
#   bash deploy/k8s/refresh-crds.sh
#
# Needs Go (the CloudNativePG and KEDA modules from the Go module proxy), Maven (Strimzi's jars from Maven
# Central) and Java >= 21 (Strimzi's CRD generator; JAVA=/path/to/java to choose one).
# The descriptions are dropped (stack.k8s compact-crds): the schemas and their CEL rules stay, the files shrink
# from ~1.2 MB to a few hundred kB.
set -euo pipefail
cd "$(dirname "$0")/../.."

STRIMZI_VERSION=1.2.0         # io.strimzi:api / io.strimzi:crd-generator; serves kafka.strimzi.io/v1 only
CLOUDNATIVE_PG_VERSION=v1.27.0  # github.com/cloudnative-pg/cloudnative-pg
KEDA_VERSION=v2.21.0          # github.com/kedacore/keda/v2

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
JAVA=${JAVA:-$(ls -d /usr/lib/jvm/temurin-2[1-9]*/bin/java 2>/dev/null | tail -1 || command -v java)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw="$work/raw"
mkdir -p "$raw"

echo "==> CloudNativePG $CLOUDNATIVE_PG_VERSION, KEDA $KEDA_VERSION (Go module proxy)"
export GOPATH="$work/go" GOFLAGS=-modcacherw
cnpg=$("$GO" mod download -json "github.com/cloudnative-pg/cloudnative-pg@$CLOUDNATIVE_PG_VERSION" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
keda=$("$GO" mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
for name in clusters scheduledbackups; do
  cp "$cnpg/config/crd/bases/postgresql.cnpg.io_$name.yaml" "$raw/"
done
for name in scaledobjects triggerauthentications; do
  cp "$keda/config/crd/bases/keda.sh_$name.yaml" "$raw/"
done

echo "==> Strimzi $STRIMZI_VERSION (Maven Central; the api jar holds the model, the generator writes the CRDs)"
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>strimzi-crds</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
POM
(cd "$work" && mvn -q dependency:build-classpath -Dmdep.outputFile=classpath.txt >/dev/null)
model=io.strimzi.api.kafka.model
"$JAVA" -cp "$(cat "$work/classpath.txt")" io.strimzi.crdgenerator.CrdGenerator --yaml \
  "$model.kafka.Kafka=$raw/kafka.strimzi.io_kafkas.yaml" \
  "$model.nodepool.KafkaNodePool=$raw/kafka.strimzi.io_kafkanodepools.yaml" \
  "$model.topic.KafkaTopic=$raw/kafka.strimzi.io_kafkatopics.yaml" \
  "$model.user.KafkaUser=$raw/kafka.strimzi.io_kafkausers.yaml"

echo "==> deploy/k8s/crds/"
.venv/bin/python -m stack.k8s compact-crds --out deploy/k8s/crds \
  --source "Strimzi $STRIMZI_VERSION (io.strimzi:crd-generator with io.strimzi:api)=$raw/kafka.strimzi.io_*.yaml" \
  --source "CloudNativePG $CLOUDNATIVE_PG_VERSION (github.com/cloudnative-pg/cloudnative-pg, config/crd/bases)=$raw/postgresql.cnpg.io_*.yaml" \
  --source "KEDA $KEDA_VERSION (github.com/kedacore/keda/v2, config/crd/bases)=$raw/keda.sh_*.yaml"
