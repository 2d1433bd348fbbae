#!/usr/bin/env bash
# Installs what Plusportal needs on a Debian/Ubuntu machine; fast and quiet when all is there.
# System packages: JDK 17 and Maven (Kafka from Apache's jars), PostgreSQL server, Python venv.
# Python packages: the project with its dev extras, pinned by constraints.txt, into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
# The gateway (nginx) and the browser for the web UI's end-to-end tests. nginx lives in /usr/sbin, which is not
# on an ordinary user's PATH: checked there too, or every run would call apt-get again.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]})); then
  echo "==> Installiere Systempakete: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || { echo "==> Lege .venv an"; python3 -m venv .venv; }
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> Installiere Python-Pakete (einmalig, etwa eine Minute)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
