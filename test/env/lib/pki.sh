# shellcheck shell=bash source-path=SCRIPTDIR
# Certificates, keys and tokens of the test control plane, made with openssl
# under .test-env/pki (kept across restarts; `test/env/down --clean` drops them).
# Sourced by test/env/up after lib/common.sh.

PKI_DIR="${STATE_DIR}/pki"

_new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# _sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the test CA.
_sign() {
  local name="$1" subject="$2" ext="$3"
  _new_key "${PKI_DIR}/${name}.key"
  openssl req -new -key "${PKI_DIR}/${name}.key" -subj "${subject}" -out "${PKI_DIR}/${name}.csr" 2>/dev/null
  openssl x509 -req -in "${PKI_DIR}/${name}.csr" -CA "${PKI_DIR}/ca.crt" -CAkey "${PKI_DIR}/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile <(printf '%s\n' "${ext}") -out "${PKI_DIR}/${name}.crt" 2>/dev/null
  rm -f "${PKI_DIR}/${name}.csr"
}

_client_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

# write_kubeconfig FILE USER_NAME CERT KEY | FILE USER_NAME --token TOKEN
write_kubeconfig() {
  local file="$1" user="$2"
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "clusters:"
    echo "- name: knative-lambda-test"
    echo "  cluster:"
    echo "    server: https://127.0.0.1:${APISERVER_PORT}"
    echo "    certificate-authority: ${PKI_DIR}/ca.crt"
    echo "contexts:"
    echo "- name: ${user}@knative-lambda-test"
    echo "  context:"
    echo "    cluster: knative-lambda-test"
    echo "    user: ${user}"
    echo "    namespace: default"
    echo "current-context: ${user}@knative-lambda-test"
    echo "users:"
    echo "- name: ${user}"
    echo "  user:"
    if [[ "$3" == --token ]]; then
      echo "    token: $4"
    else
      echo "    client-certificate: $3"
      echo "    client-key: $4"
    fi
  } >"${file}.tmp"
  chmod 600 "${file}.tmp"
  mv "${file}.tmp" "${file}"
}

ensure_pki() {
  mkdir -p "${PKI_DIR}" "${STATE_DIR}/kubeconfigs"
  chmod 700 "${PKI_DIR}"
  if [[ ! -f "${PKI_DIR}/ca.crt" ]]; then
    step "Generating certificates and keys (.test-env/pki)"
    _new_key "${PKI_DIR}/ca.key"
    openssl req -x509 -new -key "${PKI_DIR}/ca.key" -subj "/CN=knative-lambda-test-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "${PKI_DIR}/ca.crt" 2>/dev/null
    _sign apiserver "/CN=kube-apiserver" 'basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1'
    # Clients of the apiserver, authenticated by certificate (CN = user, O = groups).
    _sign admin "/O=system:masters/CN=test-admin" "${_client_ext}"
    _sign kube-controller-manager "/CN=system:kube-controller-manager" "${_client_ext}"
    _sign kube-scheduler "/CN=system:kube-scheduler" "${_client_ext}"
    _sign kwok "/O=system:masters/CN=kwok-controller" "${_client_ext}"
    # Service account token signing keys (used by the apiserver to sign and
    # verify tokens, by the controller-manager to mint them).
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${PKI_DIR}/sa.key" 2>/dev/null
    openssl pkey -in "${PKI_DIR}/sa.key" -pubout -out "${PKI_DIR}/sa.pub" 2>/dev/null
    # Static bearer tokens (--token-auth-file): token,user,uid,"group1,group2".
    # test-no-permissions has no RBAC binding at all; it exists for 403 checks.
    {
      printf '%s,test-no-permissions,uid-test-no-permissions,"test:no-permissions"\n' "$(openssl rand -hex 24)"
    } >"${PKI_DIR}/tokens.csv"
    chmod 600 "${PKI_DIR}"/*.key "${PKI_DIR}/tokens.csv"
    ok "CA, apiserver serving certificate, client certificates, service-account keys, static tokens"
  fi
  local name
  for name in admin kube-controller-manager kube-scheduler kwok; do
    write_kubeconfig "${STATE_DIR}/kubeconfigs/${name}.kubeconfig" "${name}" "${PKI_DIR}/${name}.crt" "${PKI_DIR}/${name}.key"
  done
  write_kubeconfig "${STATE_DIR}/kubeconfigs/test-no-permissions.kubeconfig" test-no-permissions \
    --token "$(cut -d, -f1 "${PKI_DIR}/tokens.csv" | head -n1)"
}
