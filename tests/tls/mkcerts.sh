#!/bin/sh
# tests/tls/mkcerts.sh DIR: the certificates the TLS tests use, made with the openssl command in DIR
# (created if missing). All keys are P-256.
#
#   ca.pem ca.key          a test CA
#   server.pem server.key  signed by the CA for localhost and 127.0.0.1
#   client.pem client.key  signed by the CA, CN trpc-test-client (mTLS)
#   expired.pem .key       signed by the CA for localhost, valid 2020-01-01 to 2020-01-02 only
#   wronghost.pem .key     signed by the CA for elsewhere.example only
#   self.pem self.key      self-signed for localhost and 127.0.0.1 (no CA knows it)
#   other-ca.pem .key      a second CA that signed nothing here (a client CA that trusts no client)
set -eu

dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
cd "$dir"
days=3650

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# A CA: key and self-signed certificate that may sign certificates.
ca() {
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out "$1.pem"
}

# A leaf signed by ca: name, CN, extensions file contents.
leaf() {
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "TRPC test CA"
ca other-ca "TRPC other test CA"
leaf server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client trpc-test-client "extendedKeyUsage=clientAuth"
leaf wronghost elsewhere.example "subjectAltName=DNS:elsewhere.example
extendedKeyUsage=serverAuth"

# Expired: openssl x509 cannot set dates in the past (OpenSSL 3.0), openssl ca can.
key expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr
mkdir -p ca.db
: >ca.db/index.txt
cat >ca.db/ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = ca.db/index.txt
new_certs_dir = ca.db
serial = ca.db/serial
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = ext
[any]
commonName = supplied
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
EOF
echo 01 >ca.db/serial
openssl ca -batch -config ca.db/ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext 2>/dev/null
rm -rf expired.csr ca.db

key self.key
openssl req -x509 -new -key self.key -sha256 -days "$days" -subj "/CN=localhost" \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -out self.pem
rm -f ca.srl
