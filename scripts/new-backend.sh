#!/usr/bin/env bash
# Starts a new backend from the template: `just new-backend NAME` (or
# `bash scripts/new-backend.sh NAME`).
#
# Copies crates/store-template to crates/store-NAME (the same files as every
# backend crate), renames the crate, its types (TemplateStore -> NameStore,
# TemplateClient -> NameClient), the backend name and the docs, and adds it
# everywhere a backend appears:
#   - the workspace dependencies (Cargo.toml);
#   - the backend registry (crates/store/backends.txt), from which the
#     facade's `open` (NAME:// URLs), its `BACKENDS` list, the reliability
#     suite's modules and the test scripts' server list are built;
#   - the facade's cargo feature NAME, also part of `full` (crates/store/Cargo.toml);
#   - the conformance matrix (tests/matrix/NAME.rs).
# Then it formats the result. The new crate builds and passes the whole
# conformance suite before any edit:
#
#   just new-backend dynamo && cargo test -p store-dynamo
#
# NAME: lowercase ASCII letters and digits, starting with a letter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'new-backend: %s\n' "$*" >&2; exit 2; }

[ "$#" -eq 1 ] || die "usage: just new-backend NAME (for example: just new-backend dynamo)"
name=$1
[[ "$name" =~ ^[a-z][a-z0-9]{0,30}$ ]] ||
  die "NAME must be 1 to 31 lowercase ASCII letters and digits, starting with a letter: got '$name'"
case "$name" in
  template | core | conformance | matrix | examples | full | faults | soak | linearizability | round_trips)
    die "'$name' is taken by the workspace; choose another name" ;;
esac
crate="store-$name"
dir="crates/$crate"
[ ! -e "$dir" ] || die "$dir already exists"
[ ! -e "tests/matrix/$name.rs" ] || die "tests/matrix/$name.rs already exists"
grep -q "^$crate = " Cargo.toml && die "Cargo.toml already has a dependency $crate"
grep -qE "^mod $name;" tests/matrix/main.rs && die "the matrix already has a module $name"
awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' crates/store/backends.txt &&
  die "crates/store/backends.txt already has a backend $name"

camel="$(printf '%s' "${name:0:1}" | tr '[:lower:]' '[:upper:]')${name:1}"
upper="$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')"

# Every spelling of the template's name, in code and docs.
rename() {
  sed -e "s/store-template/$crate/g" \
    -e "s/store_template/store_$name/g" \
    -e "s/Template/$camel/g" \
    -e "s/TEMPLATE/$upper/g" \
    -e "s/template/$name/g" "$@"
}

mkdir -p "$dir"
(cd crates/store-template && find . -type f ! -path './target/*') | while read -r file; do
  mkdir -p "$dir/$(dirname "$file")"
  rename "crates/store-template/$file" >"$dir/$file"
done
rename tests/matrix/template.rs >"tests/matrix/$name.rs"

# A crate of its own: publishable, with the workspace's version.
sed -i '/^publish = false$/d' "$dir/Cargo.toml"
# The workspace dependency, after the template's.
sed -i "s|^store-template = { path = \"crates/store-template\" }$|&\n$crate = { path = \"$dir\", version = \"0.1.0\" }|" Cargo.toml
# The registry: NAME:// URLs, an in-process test URL, no server to start.
printf '%-10s %-14s %-14s %-29s %-24s %s\n' "$name" "$crate" "${camel}Store" "$name" "$name://" - \
  >>crates/store/backends.txt
# The facade: an optional dependency and a feature, part of `full`.
sed -i "s|^store-mongodb = { workspace = true, optional = true }$|&\n$crate = { workspace = true, optional = true }|" crates/store/Cargo.toml
sed -i "s|^## Every backend\.$|## \`$name://\`: \`${camel}Store\`.\n$name = [\"dep:$crate\"]\n&|" crates/store/Cargo.toml
sed -i "s|^full = \[\(.*\)\]$|full = [\1, \"$name\"]|" crates/store/Cargo.toml
# The matrix: a dev-dependency and a module (rustfmt sorts the modules).
sed -i "s|^store-template.workspace = true$|&\n$crate.workspace = true|" tests/Cargo.toml
sed -i "s|^mod template;$|&\nmod $name;|" tests/matrix/main.rs

grep -q "^$crate = " Cargo.toml || die "could not add $crate to Cargo.toml"
grep -q "^$crate.workspace = true" tests/Cargo.toml || die "could not add $crate to tests/Cargo.toml"
grep -qE "^mod $name;" tests/matrix/main.rs || die "could not add mod $name to tests/matrix/main.rs"
grep -q "^$crate = { workspace = true, optional = true }" crates/store/Cargo.toml ||
  die "could not add $crate to crates/store/Cargo.toml"
grep -qE "^full = \[.*\"$name\"\]" crates/store/Cargo.toml || die "could not add $name to the facade's full feature"

cargo fmt --all

cat <<EOF
created $dir (types ${camel}Store and ${camel}Client, backend name "$name")
and the matrix row tests/matrix/$name.rs

next:
  cargo test -p $crate
      the whole conformance suite, passing before any edit
  cargo test -p store-matrix -- $name::
      the same suite as the row of the workspace matrix, and the soak of
      the reliability suite
  cargo test -p store --all-features
      the facade opens $name:// URLs (the registry line in crates/store/backends.txt)
then replace the in-memory stand-in with your driver, one method at a time,
and follow docs/writing-a-backend.md.
EOF
