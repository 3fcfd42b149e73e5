#!/usr/bin/env bash
# Stage 0: build the embedded DNS5-layout corpus from Debian packages (see docs/embedded-corpus.md).
#
#   local/make_embedded_corpus.sh [options]
#   local/make_embedded_corpus.sh --download-dir downloads --out downloads/dns5_embedded --seed 0
#   local/make_embedded_corpus.sh --out /tmp/tiny --max-clean-minutes 1.5 --max-noise-minutes 0.7 --n-rirs 3
#
# 1. Downloads the .deb files with apt-get into <download-dir>/debs/ (a private apt lists dir under
#    <download-dir>/apt/, nothing is installed), each into a temporary folder first, then moved and
#    marked with <download-dir>/debs/<package>.done.
# 2. Extracts each with dpkg -x into <download-dir>/pkgs/<package>/, a step keyed on the .deb's name
#    (local/lib.sh): an interrupted or outdated extraction is removed and redone.
# 3. Runs python3 -m local.embedded_corpus, which writes <out> (48 kHz DNS5 layout, README.md,
#    manifest.tsv, then .done).
# A rerun with <out>/.done and the same options exits at once; with the packages already extracted
# it fetches nothing. A .deb put into <download-dir>/debs/ by hand is checked and used (offline use).
set -euo pipefail
SECONDS=0

download_dir=downloads          # debs/, pkgs/ and apt/ go here
out=downloads/dns5_embedded     # corpus root to write
seed=0                          # same seed, same files (bit for bit)
max_clean_minutes=0             # cap on clean speech (0: all, about 44 min)
max_speaker_minutes=12          # cap per clean speaker
max_noise_minutes=0             # cap on noise (0: all, about 17 min)
n_rirs=60                       # simulated room impulse responses
nj=2                            # worker processes (the output does not depend on it)

help_message="Usage: $0 [options]
Fetches three Debian packages (asterisk-core-sounds-en-g722, fillets-ng-data-cs, sonic-pi-samples)
and builds a small DNS5-layout corpus from them in --out."

. utils/parse_options.sh
. local/lib.sh
expect_args 0 "$@"
. ./path.sh

packages="asterisk-core-sounds-en-g722 fillets-ng-data-cs sonic-pi-samples"
build_opts=(--pkgs-dir "${download_dir}/pkgs" --out "${out}" --seed "${seed}"
    --max-clean-minutes "${max_clean_minutes}" --max-speaker-minutes "${max_speaker_minutes}"
    --max-noise-minutes "${max_noise_minutes}" --n-rirs "${n_rirs}" --nj "${nj}")

rc=0
python3 -m local.embedded_corpus "${build_opts[@]}" --check || rc=$?
if [ "${rc}" -eq 0 ]; then
    log "${out} exists and was built with these options; delete it to rebuild"
    exit 0
elif [ "${rc}" -ne 3 ]; then
    log "Error: python3 -m local.embedded_corpus --check failed (exit ${rc})"
    exit 1
fi

debs=${download_dir}/debs
pkgs=${download_dir}/pkgs
mkdir -p "${debs}" "${pkgs}"
# One fetch at a time per download dir (parallel test runs or recipes share it).
exec 8> "${download_dir}/.fetch.lock"
flock 8

apt_opts=(-o "Dir::State::Lists=${download_dir}/apt/lists" -o "Dir::Cache=${download_dir}/apt/cache"
    -o "Dir::Cache::archives=${download_dir}/apt/cache/archives" -o "APT::Sandbox::User=$(id -un)")
apt_updated=false

apt_update() {
    "${apt_updated}" && return 0
    command -v apt-get > /dev/null || {
        log "Error: apt-get not found: the packages ${packages} are fetched from Debian with apt-get." \
            "Put their .deb files into ${debs}/ by hand, or use a real DNS5 download (--dns5-root)."
        exit 1
    }
    mkdir -p "${download_dir}/apt/lists/partial" "${download_dir}/apt/cache/archives/partial"
    log "Updating the package lists (private copy in ${download_dir}/apt/lists)"
    if ! apt-get -q "${apt_opts[@]}" update; then
        log "Error: apt-get update failed (no network, or no Debian repository configured);" \
            "cannot fetch ${packages}"
        exit 1
    fi
    apt_updated=true
}

fetch() { # fetch <package>: ${debs}/<package>_*.deb and ${debs}/<package>.done
    local package=$1 tmp found deb
    if [ -f "${debs}/${package}.done" ] && [ -f "${debs}/$(cat "${debs}/${package}.done")" ]; then
        return 0
    fi
    found=$(find "${debs}" -maxdepth 1 -name "${package}_*.deb" | sort | tail -n 1)
    if [ -n "${found}" ] && dpkg-deb --fsys-tarfile "${found}" > /dev/null 2>&1; then
        log "${package}: using ${found} (checked with dpkg-deb)"
    else
        if [ -n "${found}" ]; then
            log "${package}: ${found} is damaged; downloading it again"
            rm -f "${found}"
        fi
        apt_update
        tmp=$(mktemp -d "${debs}/.tmp.${package}.XXXXXX")
        log "${package}: downloading into ${debs}/"
        if ! (cd "${tmp}" && apt-get -q "${apt_opts[@]}" download "${package}"); then
            rm -rf "${tmp}"
            log "Error: apt-get could not download the Debian package ${package}" \
                "(no network, or the package is not in this machine's Debian/Ubuntu release)"
            exit 1
        fi
        deb=$(find "${tmp}" -maxdepth 1 -name "${package}_*.deb" | head -n 1)
        [ -n "${deb}" ] || { log "Error: apt-get download ${package} left no .deb in ${tmp}"; exit 1; }
        found=${debs}/$(basename "${deb}")
        mv "${deb}" "${found}"
        rm -rf "${tmp}"
    fi
    write_atomic "${debs}/${package}.done" "$(basename "${found}")"
}

extract() { # extract <package>: ${pkgs}/<package>/, a step (local/lib.sh) keyed on the .deb's name
    local package=$1 deb
    deb=$(cat "${debs}/${package}.done")
    step_done "${pkgs}/${package}" "${deb}" && return 0
    step_begin "${pkgs}/${package}" "${deb}"
    log "${package}: extracting ${deb} into ${pkgs}/${package}"
    dpkg -x "${debs}/${deb}" "${pkgs}/${package}"
    step_end "${pkgs}/${package}"
}

for package in ${packages}; do
    fetch "${package}"
    extract "${package}"
done

log "Building ${out} (seed ${seed}) from ${pkgs}"
python3 -m local.embedded_corpus "${build_opts[@]}"
log "Successfully finished. [elapsed=${SECONDS}s]"
