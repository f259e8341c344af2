#!/usr/bin/env bash
# Dataproc initialization action of airflow-dask-provider: mounts a Filestore (NFS) export on every
# node, at /mnt/shared by default, now and at every boot.
#
# Metadata: nfs-server (IP or host of the Filestore instance; nothing happens without it),
# nfs-export (the share path, such as /vol1), nfs-mount-point (default /mnt/shared) and
# nfs-mount-options. Running it again changes nothing: /etc/fstab keeps one line for the mount
# point, and a mounted export is left as it is.
#
# The script is self-contained because Dataproc downloads each initialization action on its own;
# the helpers it shares with dask.sh are kept identical by a test. For tests, INIT_ACTION_ROOT
# prefixes every path it reads or writes and INIT_ACTION_METADATA_READER replaces Dataproc's
# metadata reader; every other system command is called by name.

set -Eeuo pipefail
# A command that fails inside $(...) fails the substitution too.
shopt -s inherit_errexit

readonly ROOT="${INIT_ACTION_ROOT:-}"
readonly METADATA_READER="${INIT_ACTION_METADATA_READER:-/usr/share/google/get_metadata_value}"
readonly LOG_TAG="nfs-mount.sh"
readonly RETRY_ATTEMPTS=6
# hard: I/O waits for the server rather than failing; _netdev and nofail: boot waits for the
# network, and a node still boots when the server is down.
readonly DEFAULT_OPTIONS="rw,hard,noatime,_netdev,nofail"

# How many files this run wrote: write_file counts each file it changes.
CHANGES=0

log() {
  printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${LOG_TAG}" "$*"
}

die() {
  log "ERROR: $*"
  exit 1
}

# Print metadata attribute NAME of this node, or DEFAULT when it is unset or empty. Never logs it.
get_metadata_attribute() {
  local -r name="$1" default="${2-}"
  local value
  if value="$("${METADATA_READER}" "attributes/${name}" 2>/dev/null)" && [[ -n "${value}" ]]; then
    printf '%s' "${value}"
  else
    printf '%s' "${default}"
  fi
}

# Run "$@" until it succeeds, at most RETRY_ATTEMPTS times, waiting 2, 4, 8, ... (at most 60) seconds
# in between. Logs only the command's name: its arguments may hold metadata values.
retry() {
  local attempt=1 delay=2
  until "$@"; do
    if ((attempt >= RETRY_ATTEMPTS)); then
      log "${1##*/} failed ${attempt} times; giving up"
      return 1
    fi
    log "${1##*/} failed (attempt ${attempt} of ${RETRY_ATTEMPTS}); retrying in ${delay}s"
    sleep "${delay}"
    attempt=$((attempt + 1))
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
}

# Write CONTENT and a newline to PATH (under the root) with MODE, unless the file already holds it.
write_file() {
  local -r path="${ROOT}$1" mode="$2" content="$3"
  local tmp
  if [[ -f "${path}" ]] && printf '%s\n' "${content}" | cmp -s - "${path}"; then
    chmod "${mode}" "${path}"
    return 0
  fi
  mkdir -p "$(dirname "${path}")"
  tmp="$(mktemp "${path}.XXXXXX")"
  printf '%s\n' "${content}" >"${tmp}"
  chmod "${mode}" "${tmp}"
  mv -f "${tmp}" "${path}"
  CHANGES=$((CHANGES + 1))
}

# Fail unless VALUE of metadata key NAME matches the extended regular expression PATTERN.
require_match() {
  local -r name="$1" value="$2" pattern="$3" allowed="$4"
  if [[ ! "${value}" =~ ${pattern} ]]; then
    die "Invalid ${name}='${value}': ${allowed}"
  fi
}

# Print /etc/fstab with LINE as the only entry for MOUNT_POINT.
fstab_with() {
  local -r mount_point="$1" line="$2"
  if [[ -f "${ROOT}/etc/fstab" ]]; then
    awk -v mount_point="${mount_point}" '$1 ~ /^#/ || $2 != mount_point' "${ROOT}/etc/fstab"
  fi
  printf '%s\n' "${line}"
}

is_mounted() {
  awk -v mount_point="$1" '$2 == mount_point { found = 1 } END { exit !found }' "${ROOT}/proc/mounts"
}

install_nfs_client() {
  if command -v mount.nfs >/dev/null; then
    return 0
  fi
  log "Installing the NFS client"
  export DEBIAN_FRONTEND=noninteractive
  retry apt-get update -q
  retry apt-get install -y -q nfs-common
}

main() {
  trap 'log "ERROR: failed at line ${LINENO}"' ERR
  local server share mount_point options
  server="$(get_metadata_attribute nfs-server)"
  if [[ -z "${server}" ]]; then
    log "No nfs-server in the metadata: nothing to mount"
    return 0
  fi
  share="$(get_metadata_attribute nfs-export)"
  [[ -n "${share}" ]] || die "Metadata nfs-export is not set: name the Filestore share, such as /vol1"
  mount_point="$(get_metadata_attribute nfs-mount-point /mnt/shared)"
  options="$(get_metadata_attribute nfs-mount-options "${DEFAULT_OPTIONS}")"
  require_match nfs-server "${server}" '^[A-Za-z0-9.:-]+$' "must be an IP address or host name"
  require_match nfs-export "${share}" '^/[A-Za-z0-9._/-]*$' "must be an absolute path such as /vol1"
  require_match nfs-mount-point "${mount_point}" '^/[A-Za-z0-9._/-]+$' "must be an absolute path"
  require_match nfs-mount-options "${options}" '^[A-Za-z0-9_.,=:-]+$' "must be comma-separated mount options"

  install_nfs_client
  mkdir -p "${ROOT}${mount_point}"
  local fstab
  fstab="$(fstab_with "${mount_point}" "${server}:${share} ${mount_point} nfs ${options} 0 0")"
  write_file /etc/fstab 0644 "${fstab}"
  if is_mounted "${mount_point}"; then
    log "${mount_point} is already mounted"
  else
    retry mount -t nfs -o "${options}" "${server}:${share}" "${mount_point}"
    log "Mounted the NFS export at ${mount_point}"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
