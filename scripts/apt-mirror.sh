#!/usr/bin/env bash
# Print the first package mirror this machine's apt takes SUITE from, for debootstrap:
#   scripts/apt-mirror.sh [SUITE] [APT_DIR]        (defaults: bookworm, /etc/apt)
# Read in apt's own order: APT_DIR/sources.list, then APT_DIR/sources.list.d/*.list (one-line
# "deb [options] URL suite components") and *.sources (deb822 stanzas with Types, URIs,
# Suites, Enabled) sorted by name. Only binary ("deb") entries that list SUITE exactly count,
# so a security or third-party repository is never picked. Files with other endings
# (e.g. *.disabled) are ignored, as apt ignores them.
# Exits 1 with a message on stderr when no source serves SUITE.
set -euo pipefail

suite="${1:-bookworm}"
apt_dir="${2:-/etc/apt}"

# One-line format: comments and [options] removed, then "deb URL SUITE ...".
one_line_mirror() {
  awk -v suite="$suite" '
    { sub(/#.*/, ""); gsub(/\[[^]]*\]/, "") }
    $1 == "deb" && $3 == suite { print $2; exit }
  ' "$1"
}

# deb822 format: blank-line separated stanzas of "Key: value" fields (keys in any case;
# lines starting with a space continue the previous field; "#" lines are comments).
deb822_mirror() {
  awk -v suite="$suite" '
    function has(list, word,    n, i, w) {
      n = split(list, w, /[ \t]+/)
      for (i = 1; i <= n; i++) if (w[i] == word) return 1
      return 0
    }
    BEGIN { RS = ""; FS = "\n" }
    {
      delete field; key = ""
      for (i = 1; i <= NF; i++) {
        line = $i
        if (line ~ /^#/) continue
        if (line ~ /^[ \t]/ && key != "") { field[key] = field[key] " " line; continue }
        colon = index(line, ":")
        if (colon == 0) continue
        key = tolower(substr(line, 1, colon - 1))
        field[key] = substr(line, colon + 1)
      }
      if (tolower(field["enabled"]) ~ /^[ \t]*no[ \t]*$/) next
      if (!has(field["types"], "deb") || !has(field["suites"], suite)) next
      split(field["uris"], uris, /[ \t]+/)
      for (i = 1; i in uris; i++) if (uris[i] != "") { print uris[i]; exit }
    }
  ' "$1"
}

sources=()
[ -f "$apt_dir/sources.list" ] && sources+=("$apt_dir/sources.list")
if [ -d "$apt_dir/sources.list.d" ]; then
  while IFS= read -r file; do
    sources+=("$file")
  done < <(find "$apt_dir/sources.list.d" -maxdepth 1 -type f \
             \( -name '*.list' -o -name '*.sources' \) | LC_ALL=C sort)
fi

for file in ${sources[@]+"${sources[@]}"}; do
  case "$file" in
    *.sources) mirror=$(deb822_mirror "$file") ;;
    *) mirror=$(one_line_mirror "$file") ;;
  esac
  if [ -n "$mirror" ]; then
    printf '%s\n' "$mirror"
    exit 0
  fi
done

echo "apt-mirror: no apt source in $apt_dir serves the Debian suite '$suite' (looked for" \
     "'deb URL $suite ...' lines in sources.list and sources.list.d/*.list, and deb822" \
     "stanzas with 'Types: deb', 'Suites: ... $suite' and 'URIs:' in sources.list.d/*.sources);" \
     "add one, or set SEGARENA_DEBIAN_MIRROR to a mirror's URL" >&2
exit 1
