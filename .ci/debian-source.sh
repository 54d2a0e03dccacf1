#!/usr/bin/env bash
# Prints a deb822 stanza for Debian suite $1 (e.g. bookworm-backports) built from this
# machine's own first Debian source, so that no registry host is written in the repo:
# URIs, Components and Signed-By come from the first stanza of
# /etc/apt/sources.list.d/debian.sources, or from the first `deb` line of
# /etc/apt/sources.list where that is what the machine has.
set -euo pipefail
suite="${1:?usage: debian-source.sh <suite>}"
deb822="${DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
list="${DEBIAN_SOURCES_LIST:-/etc/apt/sources.list}"

if [ -r "$deb822" ] && grep -q '^URIs:' "$deb822"; then
  # The first stanza ends at the first blank line; comments are skipped.
  stanza="$(awk '/^[[:space:]]*$/ { if (seen) exit; next } /^#/ { next } { seen = 1; print }' "$deb822")"
  field() { printf '%s\n' "$stanza" | sed -n "s/^$1:[[:space:]]*//p" | head -n1; }
  uris="$(field URIs)"; components="$(field Components)"; signed_by="$(field Signed-By)"
elif [ -r "$list" ] && grep -Eq '^[[:space:]]*deb[[:space:]]' "$list"; then
  line="$(grep -E '^[[:space:]]*deb[[:space:]]' "$list" | head -n1)"
  signed_by="$(printf '%s\n' "$line" | sed -n 's/.*signed-by=\([^] ]*\).*/\1/p')"
  # Drop `deb` and any [options], then: URI suite components...
  rest="$(printf '%s\n' "$line" | sed -e 's/^[[:space:]]*deb[[:space:]]*//' -e 's/^\[[^]]*\][[:space:]]*//')"
  uris="$(printf '%s\n' "$rest" | awk '{ print $1 }')"
  components="$(printf '%s\n' "$rest" | awk '{ for (i = 3; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : "") }')"
else
  echo "debian-source.sh: no Debian source found (neither $deb822 nor $list has one); cannot add $suite" >&2
  exit 1
fi
if [ -z "$uris" ] || [ -z "$components" ]; then
  echo "debian-source.sh: the first Debian source has no URIs or Components; cannot add $suite" >&2
  exit 1
fi
echo "Types: deb"
echo "URIs: $uris"
echo "Suites: $suite"
echo "Components: $components"
if [ -n "$signed_by" ]; then echo "Signed-By: $signed_by"; fi
