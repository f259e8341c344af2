#!/usr/bin/env bash
# Dataproc initialization action of airflow-dask-provider: makes every node a tuned Dask node.
#
# Reads its settings from the node's metadata (keys and defaults: README.md beside this script),
# installs Dask into an isolated environment under /opt/dask, writes /etc/dask/config.yaml, and
# in the standalone runtime runs `dask scheduler` on the master and `dask worker` on the workers as
# systemd units of the unprivileged user dask, bound to the node's internal address and speaking
# TLS with the cluster's credential (from the metadata dask-tls-uri), with the dashboard routed
# through Component Gateway. Running it again with the same metadata changes no file and restarts
# nothing.
#
# The script is self-contained because Dataproc downloads each initialization action on its own.
# For tests, INIT_ACTION_ROOT prefixes every path it reads or writes, INIT_ACTION_METADATA_READER
# replaces Dataproc's metadata reader and INIT_ACTION_CONDA_HOME the image's conda installation;
# every other system command is called by name.

set -Eeuo pipefail
# A command that fails inside $(...) fails the substitution too.
shopt -s inherit_errexit

readonly ROOT="${INIT_ACTION_ROOT:-}"
readonly METADATA_READER="${INIT_ACTION_METADATA_READER:-/usr/share/google/get_metadata_value}"
readonly CONDA_HOME="${INIT_ACTION_CONDA_HOME:-/opt/conda/default}"
readonly LOG_TAG="dask.sh"
readonly RETRY_ATTEMPTS=5

# The Dask release the provider is tested with (constraints/airflow-3.txt), and the versions of the
# packages Dask compares across client, scheduler and workers, pinned for Python 3.11 (the Python
# of those constraints and of Dataproc 2.2 images) when the default Dask release is installed.
readonly TESTED_DASK_VERSION="2026.8.0"
readonly TESTED_PYTHON="3.11"
readonly -a TESTED_PINS=(
  "bokeh==3.9.2"
  "cloudpickle==3.1.2"
  "fsspec==2026.9.0"
  "gcsfs==2026.10.1"
  "msgpack==1.2.4"
  "numpy==2.4.6"
  "pandas==3.1.1"
  "prometheus-client==0.26.0"
  "pyarrow==26.0.1"
  "toolz==1.2.0"
  "tornado==6.6.1"
)

# dask-yarn 0.9 (its last release, 2021) breaks with distributed 2022.2 and newer (dask/dask-yarn
# issues 155 and 161), and that distributed supports Python up to 3.9: the yarn runtime gets its own
# Python 3.9 environment locked to dask and distributed 2022.1.1, dask-yarn 0.9 and skein 0.8.1,
# with every other package at the newest release that installs from wheels and runs with them
# (README.md says which ones are held back and why); tests/init_actions/test_yarn_lock.py resolves
# it against the package index.
readonly YARN_PYTHON="3.9"
readonly YARN_DASK_VERSION="2022.1.1"
readonly -a YARN_LOCK=(
  aiohappyeyeballs==2.6.1 aiohttp==3.13.5 aiosignal==1.4.0 async-timeout==5.0.1 attrs==26.1.0
  bokeh==2.4.2 cachetools==5.0.0 certifi==2026.10.19.post1 cffi==2.0.0 charset-normalizer==3.5.3
  click==8.0.3 cloudpickle==2.0.0 cryptography==47.0.0 dask==2022.1.1 dask-yarn==0.9
  decorator==5.1.1 distributed==2022.1.1 frozenlist==1.8.0 fsspec==2022.1.0 gcsfs==2022.1.0
  google-api-core==2.5.0 google-auth==2.6.0 google-auth-oauthlib==0.4.6 google-cloud-core==2.2.2
  google-cloud-storage==2.1.0 google-crc32c==1.3.0 google-resumable-media==2.2.1
  googleapis-common-protos==1.54.0 grpcio==1.80.1 heapdict==1.0.1 idna==3.20 jinja2==3.1.6
  locket==0.2.1 markupsafe==3.0.4 msgpack==1.0.3 multidict==6.7.1 numpy==1.22.2 oauthlib==3.3.1
  packaging==21.3 pandas==1.4.0 partd==1.2.0 pillow==11.3.0 prometheus-client==0.13.1
  propcache==0.4.1 protobuf==3.20.3 psutil==5.9.0 pyarrow==14.0.2 pyasn1==0.4.8
  pyasn1-modules==0.2.8 pycparser==2.23 pyparsing==3.0.7 python-dateutil==2.8.2 pytz==2021.3
  pyyaml==6.0 requests==2.32.5 requests-oauthlib==1.3.1 rsa==4.8 setuptools==81.0.0 six==1.16.0
  skein==0.8.1 sortedcontainers==2.4.0 tblib==1.7.0 toolz==0.11.2 tornado==6.5.10
  typing-extensions==4.16.0 urllib3==2.6.3 yarl==1.22.0 zict==2.0.0
)

# Where things go on the node.
readonly DASK_HOME="/opt/dask"
readonly STANDALONE_ENV="${DASK_HOME}/venv"
readonly YARN_ENV="${DASK_HOME}/yarn-env"
readonly DASK_CONFIG_FILE="/etc/dask/config.yaml"
readonly UNIT_DIR="/etc/systemd/system"
readonly SCHEDULER_SERVICE="dask-scheduler"
readonly WORKER_SERVICE="dask-worker"
readonly BOOT_DISK_DIRECTORY="/var/lib/dask"
readonly DASHBOARD_PREFIX="/gateway/default/dask"
readonly KNOX_HOME="/usr/lib/knox"
readonly KNOX_TOPOLOGY="/etc/knox/conf/topologies/default.xml"
readonly KNOX_SERVICE_VERSION="1.0.0"
readonly KNOX_MARKER="<!-- airflow-dask-provider dask.sh -->"
# The standalone runtime's processes run as this system user and group, own these directories (and
# the spill directory) and read the cluster's TLS credential as a member of the group.
readonly DASK_USER="dask"
readonly DASK_USER_HOME="/var/lib/dask"
readonly LOG_DIRECTORY="/var/log/dask"
readonly LOGROTATE_FILE="/etc/logrotate.d/dask"
readonly TLS_DIRECTORY="/etc/dask/tls"
readonly TLS_CREDENTIAL="${TLS_DIRECTORY}/cluster.pem"

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

# Print the value at PATH of this node's metadata (below instance/, e.g. network-interfaces/0/ip), or
# nothing when there is none. Never logs it.
get_metadata_value_path() {
  "${METADATA_READER}" "$1" 2>/dev/null || true
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

require_port() {
  require_match "$1" "$2" '^[0-9]{1,5}$' "must be a port from 1 to 65535"
  if (($2 < 1 || $2 > 65535)); then
    die "Invalid $1='$2': must be a port from 1 to 65535"
  fi
}

# Fail unless VALUE of NAME is a dotted IPv4 address.
require_ipv4() {
  local -r name="$1" value="$2" allowed="must be an IPv4 address such as 10.128.0.2"
  require_match "${name}" "${value}" '^([0-9]{1,3}\.){3}[0-9]{1,3}$' "${allowed}"
  local octet
  local -a octets
  IFS=. read -r -a octets <<<"${value}"
  for octet in "${octets[@]}"; do
    ((10#${octet} <= 255)) || die "Invalid ${name}='${value}': ${allowed}"
  done
}

# Succeed when the decimal A is at most the decimal B.
decimal_at_most() {
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

# Read the node's metadata and facts into the global settings of this run.
read_settings() {
  ROLE="$(get_metadata_attribute dataproc-role)"
  case "${ROLE}" in
    Master | Worker) ;;
    "") die "Metadata dataproc-role is not set: this script runs on Dataproc nodes only" ;;
    *) die "Unsupported dataproc-role '${ROLE}': expected Master or Worker" ;;
  esac

  RUNTIME="$(get_metadata_attribute dask-runtime standalone)"
  case "${RUNTIME}" in
    standalone | yarn) ;;
    *) die "Unsupported dask-runtime '${RUNTIME}': allowed values are standalone and yarn" ;;
  esac
  [[ "${RUNTIME}" != standalone ]] || read_network_settings

  HOSTNAME_SHORT="$(hostname -s)"
  MASTER="$(get_metadata_attribute dataproc-master)"
  if [[ -z "${MASTER}" ]]; then
    [[ "${ROLE}" == Master ]] || die "Metadata dataproc-master is not set: workers cannot find the scheduler"
    MASTER="${HOSTNAME_SHORT}"
  fi
  WORKER_COUNT="$(get_metadata_attribute dataproc-worker-count 2)"
  require_match dataproc-worker-count "${WORKER_COUNT}" '^[0-9]+$' "must be a whole number"

  DASK_VERSION="$(get_metadata_attribute dask-version "${TESTED_DASK_VERSION}")"
  DISTRIBUTED_VERSION="$(get_metadata_attribute distributed-version "${DASK_VERSION}")"
  require_match dask-version "${DASK_VERSION}" '^[0-9][0-9A-Za-z.+-]*$' "must be a release such as ${TESTED_DASK_VERSION}"
  require_match distributed-version "${DISTRIBUTED_VERSION}" '^[0-9][0-9A-Za-z.+-]*$' "must be a release such as ${TESTED_DASK_VERSION}"
  read -r -a EXTRA_PACKAGES <<<"$(get_metadata_attribute dask-pip-packages)"
  local package
  for package in "${EXTRA_PACKAGES[@]}"; do
    [[ "${package}" != -* ]] || die "Invalid dask-pip-packages: holds an option; list requirement specifiers only"
  done
  PIP_CONSTRAINTS="$(get_metadata_attribute dask-pip-constraints)"
  if [[ -n "${PIP_CONSTRAINTS}" && ! "${PIP_CONSTRAINTS}" =~ ^(gs|https)://[^[:space:]]+$ ]]; then
    die "Invalid dask-pip-constraints: must be a gs:// or https:// URL"
  fi

  SCHEDULER_PORT="$(get_metadata_attribute dask-scheduler-port 8786)"
  DASHBOARD_PORT="$(get_metadata_attribute dask-dashboard-port 8787)"
  WORKER_DASHBOARD_PORT="$(get_metadata_attribute dask-worker-dashboard-port 8788)"
  require_port dask-scheduler-port "${SCHEDULER_PORT}"
  require_port dask-dashboard-port "${DASHBOARD_PORT}"
  require_port dask-worker-dashboard-port "${WORKER_DASHBOARD_PORT}"

  read_memory_thresholds
  read_worker_resources

  IDLE_TIMEOUT="$(get_metadata_attribute dask-idle-timeout)"
  if [[ -n "${IDLE_TIMEOUT}" ]]; then
    require_match dask-idle-timeout "${IDLE_TIMEOUT}" '^[0-9]+(\.[0-9]+)?[ ]?[a-z]*$' "must be a duration such as 2h or 90 minutes"
  fi

  WORKER_ON_MASTER="$(get_metadata_attribute dask-worker-on-master false)"
  require_match dask-worker-on-master "${WORKER_ON_MASTER}" '^(true|false)$' "must be true or false"
  YARN_WORKER_COUNT="$(get_metadata_attribute dask-yarn-worker-count "$((WORKER_COUNT > 0 ? WORKER_COUNT : 1))")"
  YARN_WORKER_VCORES="$(get_metadata_attribute dask-yarn-worker-vcores 1)"
  YARN_WORKER_MEMORY="$(get_metadata_attribute dask-yarn-worker-memory 4GiB)"
  require_match dask-yarn-worker-count "${YARN_WORKER_COUNT}" '^[0-9]+$' "must be a whole number"
  require_match dask-yarn-worker-vcores "${YARN_WORKER_VCORES}" '^[1-9][0-9]*$' "must be a whole number from 1"
  require_match dask-yarn-worker-memory "${YARN_WORKER_MEMORY}" '^[0-9]+(\.[0-9]+)?[KMGT]i?B$' "must be a size such as 4GiB"
}

# Where the standalone runtime's processes listen (the node's internal address), and how they talk:
# TLS with the cluster's credential, or plain TCP only when the metadata opts out explicitly.
read_network_settings() {
  LISTEN_ADDRESS="$(get_metadata_attribute dask-listen-address)"
  if [[ -n "${LISTEN_ADDRESS}" ]]; then
    require_ipv4 dask-listen-address "${LISTEN_ADDRESS}"
  else
    LISTEN_ADDRESS="$(get_metadata_value_path network-interfaces/0/ip)"
    [[ -n "${LISTEN_ADDRESS}" ]] ||
      die "Cannot read this node's internal address (metadata network-interfaces/0/ip): set dask-listen-address"
    require_ipv4 network-interfaces/0/ip "${LISTEN_ADDRESS}"
  fi

  TLS_URI="$(get_metadata_attribute dask-tls-uri)"
  ALLOW_PLAINTEXT="$(get_metadata_attribute dask-allow-plaintext false)"
  require_match dask-allow-plaintext "${ALLOW_PLAINTEXT}" '^(true|false)$' "must be true or false"
  if [[ -n "${TLS_URI}" ]]; then
    require_match dask-tls-uri "${TLS_URI}" '^gs://[^[:space:]]+$' "must be the gs:// URI of one PEM object"
    PROTOCOL=tls
  elif [[ "${ALLOW_PLAINTEXT}" == true ]]; then
    PROTOCOL=tcp
  else
    die "Metadata dask-tls-uri is not set: the standalone runtime needs the gs:// URI of the cluster's TLS" \
      "credential (its certificate, also its CA, followed by its unencrypted private key, in one PEM object)," \
      "or dask-allow-plaintext=true to run Dask unencrypted and open to every machine that reaches the node"
  fi
}

# Memory thresholds of every worker, as fractions of its memory limit (or false to turn one off).
read_memory_thresholds() {
  MEMORY_TARGET="$(get_metadata_attribute dask-memory-target 0.85)"
  MEMORY_SPILL="$(get_metadata_attribute dask-memory-spill 0.90)"
  MEMORY_PAUSE="$(get_metadata_attribute dask-memory-pause 0.95)"
  MEMORY_TERMINATE="$(get_metadata_attribute dask-memory-terminate 0.98)"
  local -r fraction='^(0\.[0-9]*[1-9][0-9]*|1(\.0*)?|false)$'
  local name value previous_name="" previous=""
  for name in target spill pause terminate; do
    case "${name}" in
      target) value="${MEMORY_TARGET}" ;;
      spill) value="${MEMORY_SPILL}" ;;
      pause) value="${MEMORY_PAUSE}" ;;
      terminate) value="${MEMORY_TERMINATE}" ;;
    esac
    require_match "dask-memory-${name}" "${value}" "${fraction}" "must be a fraction above 0 and at most 1, or false"
    [[ "${value}" != false ]] || continue
    if [[ -n "${previous}" ]] && ! decimal_at_most "${previous}" "${value}"; then
      die "Invalid dask-memory-${name}='${value}': must be at least dask-memory-${previous_name}='${previous}'"
    fi
    previous="${value}"
    previous_name="${name}"
  done
}

# Threads and memory limit of a Dask worker on this node, and where it spills.
read_worker_resources() {
  local vcpus total_mib reserved_cpus reserve_mib
  vcpus="$(nproc)"
  total_mib="$(awk '/^MemTotal:/ { print int($2 / 1024) }' "${ROOT}/proc/meminfo")"
  [[ -n "${total_mib}" ]] || die "Cannot read MemTotal from /proc/meminfo"

  reserved_cpus="$(get_metadata_attribute dask-reserved-cpus 1)"
  require_match dask-reserved-cpus "${reserved_cpus}" '^[0-9]+$' "must be a whole number"
  WORKER_NTHREADS="$(get_metadata_attribute dask-worker-nthreads "$((vcpus - reserved_cpus > 1 ? vcpus - reserved_cpus : 1))")"
  require_match dask-worker-nthreads "${WORKER_NTHREADS}" '^[1-9][0-9]*$' "must be a whole number from 1"

  reserve_mib="$(get_metadata_attribute dask-memory-reserve-mib 2048)"
  require_match dask-memory-reserve-mib "${reserve_mib}" '^[0-9]+$' "must be a whole number of MiB"
  # Never less than half the node's memory, so a small node still gets a usable worker.
  local limit_mib=$((total_mib - reserve_mib))
  ((limit_mib >= total_mib / 2)) || limit_mib=$((total_mib / 2))
  WORKER_MEMORY_LIMIT="$(get_metadata_attribute dask-worker-memory-limit "${limit_mib}MiB")"
  require_match dask-worker-memory-limit "${WORKER_MEMORY_LIMIT}" '^[0-9]+(\.[0-9]+)?[KMGT]i?B$' "must be a size such as 14GiB"

  local ssd_directory
  ssd_directory="$(local_ssd_directory)"
  LOCAL_DIRECTORY="$(get_metadata_attribute dask-local-directory "${ssd_directory}")"
  require_match dask-local-directory "${LOCAL_DIRECTORY}" '^/[A-Za-z0-9._/-]+$' "must be an absolute path"
  [[ "/${LOCAL_DIRECTORY}/" != */../* && "/${LOCAL_DIRECTORY}/" != */./* ]] ||
    die "Invalid dask-local-directory='${LOCAL_DIRECTORY}': must be an absolute path without . or .."
}

# Print the Dask directory on the node's first local SSD (Dataproc mounts them at /mnt/1, /mnt/2,
# ...), or on the boot disk when the node has none.
local_ssd_directory() {
  local mount_point
  mount_point="$(awk '$2 ~ /^\/mnt\/[0-9]+$/ { n = substr($2, 6) + 0; if (best == "" || n < best) best = n }
    END { if (best != "") print "/mnt/" best }' "${ROOT}/proc/mounts")"
  if [[ -n "${mount_point}" ]]; then
    printf '%s/dask' "${mount_point}"
  else
    printf '%s' "${BOOT_DISK_DIRECTORY}"
  fi
}

is_primary_master() {
  [[ "${ROLE}" == Master && "${HOSTNAME_SHORT}" == "${MASTER}" ]]
}

runs_worker() {
  [[ "${ROLE}" == Worker ]] || { is_primary_master && [[ "${WORKER_COUNT}" == 0 || "${WORKER_ON_MASTER}" == true ]]; }
}

# Print the interpreter that makes the standalone environment: the image's conda Python.
base_python() {
  if [[ -x "${CONDA_HOME}/bin/python3" ]]; then
    printf '%s' "${CONDA_HOME}/bin/python3"
  else
    printf 'python3'
  fi
}

standalone_requirements() {
  printf '%s\n' "dask[dataframe,diagnostics]==${DASK_VERSION}" "distributed==${DISTRIBUTED_VERSION}" \
    prometheus-client gcsfs
  if [[ "${DASK_VERSION}" == "${TESTED_DASK_VERSION}" && "${DISTRIBUTED_VERSION}" == "${TESTED_DASK_VERSION}" ]]; then
    printf '%s; python_version == "'"${TESTED_PYTHON}"'"\n' "${TESTED_PINS[@]}"
  fi
}

yarn_requirements() {
  printf '%s\n' "dask[dataframe,diagnostics]==${YARN_DASK_VERSION}" "distributed==${YARN_DASK_VERSION}" \
    dask-yarn prometheus-client gcsfs pyarrow
}

# Install REQUIREMENTS (one a line) into the environment at ENV with pip, unless the same ones already
# were: a stamp file holds what the last successful install was given.
pip_install() {
  local -r env="$1" requirements="$2"
  local -r stamp="${ROOT}${env}/.airflow-dask-provider-requirements"
  local -a args=(--disable-pip-version-check --no-input --quiet)
  local constraints="" stamp_content
  if [[ "${PIP_CONSTRAINTS}" == gs://* ]]; then
    constraints="${ROOT}${DASK_HOME}/pip-constraints.txt"
    retry gcloud storage cp --quiet "${PIP_CONSTRAINTS}" "${constraints}"
    args+=(--constraint "${constraints}")
  elif [[ -n "${PIP_CONSTRAINTS}" ]]; then
    args+=(--constraint "${PIP_CONSTRAINTS}")
  fi
  if [[ "${env}" == "${YARN_ENV}" ]]; then
    args+=(--constraint "${ROOT}${YARN_ENV}/lock.txt")
  fi
  stamp_content="$(printf '%s\n' "${requirements}" "${EXTRA_PACKAGES[@]}" "${PIP_CONSTRAINTS}"
    if [[ -n "${constraints}" ]]; then sha256sum <"${constraints}"; fi)"
  if [[ -f "${stamp}" ]] && printf '%s\n' "${stamp_content}" | cmp -s - "${stamp}"; then
    log "Dask environment ${env} is up to date"
    return 0
  fi
  local -a packages
  mapfile -t packages <<<"${requirements}"
  log "Installing Dask into ${env}"
  retry "${ROOT}${env}/bin/python" -m pip install "${args[@]}" "${packages[@]}" "${EXTRA_PACKAGES[@]}"
  write_file "${env}/.airflow-dask-provider-requirements" 0600 "${stamp_content}"
}

# Make the Python environment of the runtime and point /opt/dask/bin/python at it.
install_environment() {
  local env requirements
  if [[ "${RUNTIME}" == standalone ]]; then
    env="${STANDALONE_ENV}"
    if [[ ! -x "${ROOT}${env}/bin/python" ]]; then
      log "Creating the Python environment ${env}"
      "$(base_python)" -m venv "${ROOT}${env}"
    fi
    requirements="$(standalone_requirements)"
  else
    env="${YARN_ENV}"
    if [[ "$(get_metadata_attribute dask-version)" != "" ]]; then
      log "dask-version does not apply to the yarn runtime, which runs Dask ${YARN_DASK_VERSION}"
    fi
    [[ -x "${CONDA_HOME}/bin/conda" ]] || die "The yarn runtime needs conda at ${CONDA_HOME}/bin/conda"
    if [[ ! -x "${ROOT}${env}/bin/python" ]]; then
      log "Creating the Python ${YARN_PYTHON} environment ${env}"
      retry "${CONDA_HOME}/bin/conda" create --yes --quiet --prefix "${ROOT}${env}" \
        --override-channels --channel conda-forge "python=${YARN_PYTHON}" pip
    fi
    write_file "${env}/lock.txt" 0644 "$(printf '%s\n' "${YARN_LOCK[@]}")"
    requirements="$(yarn_requirements)"
  fi
  pip_install "${env}" "${requirements}"
  mkdir -p "${ROOT}${DASK_HOME}/bin"
  if [[ "$(readlink "${ROOT}${DASK_HOME}/bin/python" || true)" != "${env}/bin/python" ]]; then
    ln -sfn "${env}/bin/python" "${ROOT}${DASK_HOME}/bin/python"
    CHANGES=$((CHANGES + 1))
  fi
}

dask_config() {
  local idle_timeout=null
  [[ -z "${IDLE_TIMEOUT}" ]] || idle_timeout="\"${IDLE_TIMEOUT}\""
  cat <<EOF
# Dask settings of this node, written by the dask.sh initialization action of airflow-dask-provider.
# Every Dask process on the node reads /etc/dask. Change the node's metadata and rerun the action
# rather than editing this file.
temporary-directory: ${LOCAL_DIRECTORY}
distributed:
  worker:
    memory:
      target: ${MEMORY_TARGET}
      spill: ${MEMORY_SPILL}
      pause: ${MEMORY_PAUSE}
      terminate: ${MEMORY_TERMINATE}
  scheduler:
    idle-timeout: ${idle_timeout}
    http:
      # distributed's defaults plus its HTTP API, whose /api/v1/check_idle is the scheduler's own
      # idle signal that the provider's DaskDataprocIdleSensor reads through Component Gateway.
      routes:
        - distributed.http.scheduler.prometheus
        - distributed.http.scheduler.info
        - distributed.http.scheduler.json
        - distributed.http.health
        - distributed.http.proxy
        - distributed.http.statics
        - distributed.http.scheduler.api
EOF
  if [[ "${RUNTIME}" == standalone ]]; then
    cat <<EOF
  dashboard:
    link: "{scheme}://{host}:{port}${DASHBOARD_PREFIX}/status"
EOF
    [[ "${PROTOCOL}" != tls ]] || dask_tls_config
    cat <<EOF
# Where a plain distributed.Client() on this node (a job's driver) finds the scheduler.
scheduler-address: ${PROTOCOL}://${MASTER}:${SCHEDULER_PORT}
EOF
  else
    cat <<EOF
yarn:
  environment: python://${YARN_ENV}/bin/python
  worker:
    count: ${YARN_WORKER_COUNT}
    vcores: ${YARN_WORKER_VCORES}
    memory: ${YARN_WORKER_MEMORY}
EOF
  fi
}

# The comm settings of the distributed: mapping with TLS: every role (and a client such as a job's
# driver) presents the cluster's certificate and accepts only peers that present it too.
dask_tls_config() {
  local -r pem="${TLS_CREDENTIAL}"
  cat <<EOF
  comm:
    require-encryption: true
    tls:
      ca-file: ${pem}
      scheduler:
        cert: ${pem}
        key: ${pem}
      worker:
        cert: ${pem}
        key: ${pem}
      client:
        cert: ${pem}
        key: ${pem}
EOF
}

# The TLS options of the dask scheduler and dask worker commands (none over plain TCP).
tls_options() {
  [[ "${PROTOCOL}" == tls ]] || return 0
  printf ' --tls-ca-file %s --tls-cert %s --tls-key %s' "${TLS_CREDENTIAL}" "${TLS_CREDENTIAL}" "${TLS_CREDENTIAL}"
}

# The [Service] lines both units share: the unprivileged user, a hardened sandbox that leaves Dask
# the node's network and its own directories, and output appended to /var/log/dask/SERVICE.log.
service_sandbox() {
  local -r service="$1"
  cat <<EOF
User=${DASK_USER}
Group=${DASK_USER}
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full
ProtectHome=true
StandardOutput=append:${LOG_DIRECTORY}/${service}.log
StandardError=inherit
EOF
}

scheduler_unit() {
  cat <<EOF
# Written by the dask.sh initialization action of airflow-dask-provider.
[Unit]
Description=Dask scheduler (dashboard and Prometheus metrics under ${DASHBOARD_PREFIX} on port ${DASHBOARD_PORT})
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${STANDALONE_ENV}/bin/dask scheduler --protocol ${PROTOCOL} --host ${LISTEN_ADDRESS} --port ${SCHEDULER_PORT} --dashboard-address ${LISTEN_ADDRESS}:${DASHBOARD_PORT} --dashboard-prefix ${DASHBOARD_PREFIX}$(tls_options)
$(service_sandbox "${SCHEDULER_SERVICE}")
Restart=on-failure
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
}

worker_unit() {
  local after="network-online.target"
  [[ "${ROLE}" != Master ]] || after="network-online.target ${SCHEDULER_SERVICE}.service"
  cat <<EOF
# Written by the dask.sh initialization action of airflow-dask-provider.
[Unit]
Description=Dask worker of the scheduler on ${MASTER}
Wants=network-online.target
After=${after}

[Service]
Type=simple
ExecStart=${STANDALONE_ENV}/bin/dask worker ${PROTOCOL}://${MASTER}:${SCHEDULER_PORT} --host ${LISTEN_ADDRESS} --name ${HOSTNAME_SHORT} --nthreads ${WORKER_NTHREADS} --memory-limit ${WORKER_MEMORY_LIMIT} --local-directory ${LOCAL_DIRECTORY} --dashboard-address ${LISTEN_ADDRESS}:${WORKER_DASHBOARD_PORT}$(tls_options)
$(service_sandbox "${WORKER_SERVICE}")
# A worker whose scheduler stops exits with status 0: come back and join the restarted scheduler.
Restart=always
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
}

# Make the system user and group the Dask processes run as, unless the user exists.
ensure_dask_user() {
  id "${DASK_USER}" >/dev/null 2>&1 && return 0
  log "Creating the system user ${DASK_USER}"
  useradd --system --user-group --home-dir "${DASK_USER_HOME}" --no-create-home --shell /usr/sbin/nologin \
    "${DASK_USER}"
}

# Make DIRECTORY the Dask user's (mode 0750). A directory that already holds another user's files is
# never taken over: dask-local-directory names a directory of Dask's own.
own_directory() {
  local -r directory="$1" path="${ROOT}$1"
  if [[ -d "${path}" && "$(stat -c %U "${path}")" != "${DASK_USER}" && -n "$(ls -A "${path}")" ]]; then
    die "${directory} holds files of another user: dask-local-directory must name a directory of Dask's own"
  fi
  mkdir -p "${path}"
  chown "${DASK_USER}:${DASK_USER}" "${path}"
  chmod 0750 "${path}"
}

# The directories the Dask processes write: home, spill and log directories; logs rotate weekly.
prepare_directories() {
  own_directory "${DASK_USER_HOME}"
  own_directory "${LOCAL_DIRECTORY}"
  own_directory "${LOG_DIRECTORY}"
  write_file "${LOGROTATE_FILE}" 0644 "$(logrotate_config)"
}

# systemd opens each log with O_APPEND, so copytruncate rotates it under the running process.
logrotate_config() {
  cat <<EOF
# Written by the dask.sh initialization action of airflow-dask-provider.
${LOG_DIRECTORY}/*.log {
  weekly
  maxsize 100M
  rotate 8
  compress
  delaycompress
  missingok
  notifempty
  copytruncate
}
EOF
}

# Succeed when FILE holds a certificate that has not expired and the private key of that certificate.
# Prints nothing of the file.
is_tls_credential() {
  local -r file="$1"
  grep -q -e '^-----BEGIN CERTIFICATE-----$' "${file}" || return 1
  grep -Eq -e '^-----BEGIN (RSA |EC )?PRIVATE KEY-----$' "${file}" || return 1
  command -v openssl >/dev/null || return 0
  local certificate_key private_key
  openssl x509 -noout -checkend 0 -in "${file}" >/dev/null 2>&1 || return 1
  certificate_key="$(openssl x509 -noout -pubkey -in "${file}" 2>/dev/null)" || return 1
  private_key="$(openssl pkey -pubout -in "${file}" 2>/dev/null)" || return 1
  [[ "${certificate_key}" == "${private_key}" ]]
}

# Copy the cluster's TLS credential from dask-tls-uri to TLS_CREDENTIAL, readable by root and the
# dask group only: the copy lands in a file of mode 0600 inside the closed directory, then takes the
# final name. Counts a change when the credential is new or differs. Never logs the credential.
install_tls_credential() {
  local -r directory="${ROOT}${TLS_DIRECTORY}" credential="${ROOT}${TLS_CREDENTIAL}"
  mkdir -p "${directory}"
  chown "root:${DASK_USER}" "${directory}"
  chmod 0750 "${directory}"
  local tmp
  tmp="$(mktemp "${directory}/.cluster.pem.XXXXXX")"
  if ! (umask 077 && retry gcloud storage cp --quiet "${TLS_URI}" "${tmp}"); then
    rm -f "${tmp}"
    die "Cannot copy the cluster's TLS credential from dask-tls-uri='${TLS_URI}'"
  fi
  if ! is_tls_credential "${tmp}"; then
    rm -f "${tmp}"
    die "Invalid dask-tls-uri='${TLS_URI}': must hold a PEM certificate that has not expired followed by" \
      "its unencrypted private key"
  fi
  chown "root:${DASK_USER}" "${tmp}"
  chmod 0640 "${tmp}"
  if [[ -f "${credential}" ]] && cmp -s "${tmp}" "${credential}"; then
    rm -f "${tmp}"
    chown "root:${DASK_USER}" "${credential}"
    chmod 0640 "${credential}"
    return 0
  fi
  mv -f "${tmp}" "${credential}"
  CHANGES=$((CHANGES + 1))
  log "Installed the cluster's TLS credential at ${TLS_CREDENTIAL}"
}

# Enable SERVICE and have it run: restarted when RESTART is 1, else only started if stopped.
run_service() {
  local -r service="$1" restart="$2"
  systemctl enable "${service}.service"
  if [[ "${restart}" == 1 ]]; then
    systemctl restart "${service}.service"
  else
    systemctl start "${service}.service"
  fi
}

# Remove SERVICE's unit if an earlier run of this script installed it.
remove_service() {
  local -r unit="${ROOT}${UNIT_DIR}/$1.service"
  [[ -f "${unit}" ]] || return 0
  log "Removing ${1}, which this node no longer runs"
  systemctl disable --now "$1.service"
  rm -f "${unit}"
  systemctl daemon-reload
}

install_services() {
  local -r before_units="${CHANGES}" environment_changed="$1"
  if is_primary_master; then
    write_file "${UNIT_DIR}/${SCHEDULER_SERVICE}.service" 0644 "$(scheduler_unit)"
  else
    remove_service "${SCHEDULER_SERVICE}"
  fi
  if runs_worker; then
    write_file "${UNIT_DIR}/${WORKER_SERVICE}.service" 0644 "$(worker_unit)"
  else
    remove_service "${WORKER_SERVICE}"
  fi
  local restart=0
  if ((CHANGES > before_units)); then
    systemctl daemon-reload
    restart=1
  fi
  [[ "${environment_changed}" == 0 ]] || restart=1
  if is_primary_master; then
    log "Running the Dask scheduler on ${PROTOCOL}://${LISTEN_ADDRESS}:${SCHEDULER_PORT}, dashboard on ${DASHBOARD_PORT}"
    run_service "${SCHEDULER_SERVICE}" "${restart}"
  fi
  if runs_worker; then
    log "Running a Dask worker: ${WORKER_NTHREADS} threads, memory limit ${WORKER_MEMORY_LIMIT}, directory ${LOCAL_DIRECTORY}"
    run_service "${WORKER_SERVICE}" "${restart}"
  fi
}

knox_service() {
  local -r role="$1" route="$2"
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
${KNOX_MARKER}
<service role="${role}" name="${role,,}" version="${KNOX_SERVICE_VERSION}">
  <policies>
    <policy role="webappsec"/>
    <policy role="authentication" name="Anonymous"/>
    <policy role="rewrite"/>
    <policy role="authorization"/>
  </policies>
  <routes>
${route}
  </routes>
  <dispatch classname="org.apache.knox.gateway.dispatch.PassAllHeadersNoChunkedPostDispatch"/>
</service>
EOF
}

knox_rewrite() {
  local -r rules="$1"
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
${KNOX_MARKER}
<rules>
${rules}
</rules>
EOF
}

# Knox routes and rewrite rules of the dashboard (DASK) and its websockets (DASKWS). The dashboard
# serves every page under the gateway's path, so a request is forwarded with its path unchanged.
knox_dask_routes() {
  cat <<'EOF'
    <route path="/dask"><rewrite apply="DASK/dask/inbound/root" to="request.url"/></route>
    <route path="/dask/**"><rewrite apply="DASK/dask/inbound/path" to="request.url"/></route>
    <route path="/dask/**?**"><rewrite apply="DASK/dask/inbound/query" to="request.url"/></route>
EOF
}

knox_dask_rules() {
  cat <<'EOF'
  <rule dir="IN" name="DASK/dask/inbound/root" pattern="*://*:*/**/dask">
    <rewrite template="{$serviceUrl[DASK]}/"/>
  </rule>
  <rule dir="IN" name="DASK/dask/inbound/path" pattern="*://*:*/**/dask/{**}">
    <rewrite template="{$serviceUrl[DASK]}/{**}"/>
  </rule>
  <rule dir="IN" name="DASK/dask/inbound/query" pattern="*://*:*/**/dask/{**}?{**}">
    <rewrite template="{$serviceUrl[DASK]}/{**}?{**}"/>
  </rule>
EOF
}

knox_daskws_routes() {
  cat <<'EOF'
    <route path="/dask/**/ws"><rewrite apply="DASKWS/daskws/inbound/ws" to="request.url"/></route>
EOF
}

knox_daskws_rules() {
  cat <<'EOF'
  <rule dir="IN" name="DASKWS/daskws/inbound/ws" pattern="*://*:*/**/dask/{**}/ws">
    <rewrite template="{$serviceUrl[DASKWS]}/{**}/ws"/>
  </rule>
EOF
}

# Print the Knox topology with the Dask services (and no earlier copy of them) before </topology>.
knox_topology() {
  local -r topology="$1"
  local -r entries="  <service><role>DASK</role><version>${KNOX_SERVICE_VERSION}</version><url>http://${MASTER}:${DASHBOARD_PORT}${DASHBOARD_PREFIX}</url></service> ${KNOX_MARKER}
  <service><role>DASKWS</role><version>${KNOX_SERVICE_VERSION}</version><url>ws://${MASTER}:${DASHBOARD_PORT}${DASHBOARD_PREFIX}</url></service> ${KNOX_MARKER}"
  awk -v marker="${KNOX_MARKER}" -v entries="${entries}" '
    index($0, marker) { next }
    /<\/topology>/ && !done { print entries; done = 1 }
    { print }' "${topology}"
}

# Route https://GATEWAY/gateway/default/dask/ to the dashboard through Component Gateway's Knox.
configure_knox() {
  if [[ ! -d "${ROOT}${KNOX_HOME}" || ! -f "${ROOT}${KNOX_TOPOLOGY}" ]]; then
    log "No Knox on this node (Component Gateway off): the dashboard is not routed"
    return 0
  fi
  grep -q '</topology>' "${ROOT}${KNOX_TOPOLOGY}" || die "${KNOX_TOPOLOGY} has no </topology>"
  local -r before="${CHANGES}" services="${KNOX_HOME}/data/services"
  local -r v="${KNOX_SERVICE_VERSION}"
  write_file "${services}/dask/${v}/service.xml" 0644 "$(knox_service DASK "$(knox_dask_routes)")"
  write_file "${services}/dask/${v}/rewrite.xml" 0644 "$(knox_rewrite "$(knox_dask_rules)")"
  write_file "${services}/daskws/${v}/service.xml" 0644 "$(knox_service DASKWS "$(knox_daskws_routes)")"
  write_file "${services}/daskws/${v}/rewrite.xml" 0644 "$(knox_rewrite "$(knox_daskws_rules)")"
  local topology
  topology="$(knox_topology "${ROOT}${KNOX_TOPOLOGY}")"
  write_file "${KNOX_TOPOLOGY}" 0644 "${topology}"
  if ((CHANGES > before)); then
    # Knox reads service definitions when it deploys a topology: drop the old deployments.
    local -r deployments="${ROOT}${KNOX_HOME}/data/deployments"
    if [[ -d "${deployments}" ]]; then
      find "${deployments}" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    fi
    systemctl try-restart knox.service
    log "Dashboard routed through Component Gateway at ${DASHBOARD_PREFIX}/status"
  fi
}

warn_plaintext() {
  log "WARNING: NO TLS. dask-allow-plaintext=true and no dask-tls-uri: the Dask scheduler and workers" \
    "accept unencrypted connections without any credential from every machine that reaches" \
    "${LISTEN_ADDRESS}, and whoever connects runs code as the user ${DASK_USER}"
}

main() {
  trap 'log "ERROR: failed at line ${LINENO}"' ERR
  read_settings
  log "Configuring a ${ROLE} node (${HOSTNAME_SHORT}) for the Dask ${RUNTIME} runtime"
  local -r before="${CHANGES}"
  install_environment
  if [[ "${RUNTIME}" == standalone ]]; then
    ensure_dask_user
    prepare_directories
    if [[ "${PROTOCOL}" == tls ]]; then
      install_tls_credential
    else
      warn_plaintext
    fi
  else
    if [[ -n "$(get_metadata_attribute dask-tls-uri)" ]]; then
      log "dask-tls-uri does not apply to the yarn runtime, whose Dask processes dask-yarn starts"
    fi
    mkdir -p "${ROOT}${LOCAL_DIRECTORY}"
  fi
  write_file "${DASK_CONFIG_FILE}" 0644 "$(dask_config)"
  if [[ "${RUNTIME}" == standalone ]]; then
    local changed=0
    ((CHANGES == before)) || changed=1
    install_services "${changed}"
    [[ "${ROLE}" != Master ]] || configure_knox
  fi
  log "Dask ${RUNTIME} runtime ready on ${HOSTNAME_SHORT}"
  [[ "${RUNTIME}" != standalone || "${PROTOCOL}" == tls ]] || warn_plaintext
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
