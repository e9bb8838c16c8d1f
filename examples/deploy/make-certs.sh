#!/bin/sh
# Makes one self-signed certificate per machine for MACHINES mode: DIR/NAME.pem and DIR/NAME.key.
#   sh make-certs.sh tls parent child-0 child-1
# Each certificate is its own trust anchor (peers are pinned by fingerprint) and carries both
# serverAuth and clientAuth. Copy only the .pem files to other machines, never the keys.
set -eu
if [ "$#" -lt 2 ]; then
  echo "usage: $0 DIR NAME..." >&2
  exit 2
fi
dir=$1
shift
mkdir -p "$dir"
for name in "$@"; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -keyout "$dir/$name.key" -out "$dir/$name.pem" -subj "/CN=$name" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" 2>/dev/null
  chmod 600 "$dir/$name.key"
  echo "$dir/$name.pem"
done
