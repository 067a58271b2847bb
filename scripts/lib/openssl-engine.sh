# openssl_engine_conf MODULE: prints an OpenSSL config that loads the libp11
# engine ("pkcs11") with MODULE, for `openssl ... -engine pkcs11 -keyform engine`.
openssl_engine_conf() {
  local engine
  engine=$(find /usr/lib/*/engines-3 -name pkcs11.so 2>/dev/null | head -n1)
  cat <<CONF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = ${engine}
MODULE_PATH = $1
init = 0
[req]
distinguished_name = req_dn
[req_dn]
CONF
}
