#!/usr/bin/env bash
# Makes a throwaway PKI for the discovery tests in DIR (created if missing):
#   ca.pem             a test CA (trusted only through HttpClientOptions::ca_file)
#   good.pem/.key      leaf for DNS:localhost and IP:127.0.0.1, valid now
#   wrong.pem/.key     leaf for DNS:wrong.example only (hostname mismatch)
#   expired.pem/.key   leaf for localhost/127.0.0.1, expired in 2020
# EC P-256 keys, so the whole run takes milliseconds.
set -euo pipefail
dir=${1:?usage: make_test_pki.sh DIR}
mkdir -p "$dir/db"
cd "$dir"
: > db/index.txt
echo 1000 > db/serial

cat > ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[good]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[wrong]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
CNF

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=Nexus Test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

leaf() {  # name cn extensions [openssl ca validity options...]
  local name=$1 cn=$2 ext=$3
  shift 3
  openssl req -new "${ec[@]}" -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn"
  openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$name.csr" \
    -out "$name.pem" -extensions "$ext" -notext "$@"
}
leaf good localhost good -days 2
leaf wrong wrong.example wrong -days 2
leaf expired localhost good -startdate 20200101000000Z -enddate 20200102000000Z
