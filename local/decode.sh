#!/usr/bin/env bash
# Stage 5: enhance data sets with every system: our trained models (ESPnet's enh_inference through
# pyscripts/enh_inference.py, in --nj jobs) and the shipped peer systems GTCRN and DeepFilterNet3
# (pyscripts/peers.py, in their own environment .venv-peers, built once by local/setup_peers_env.sh).
#
#   local/decode.sh [options] --models "dl pl" --peers "gtcrn dfn3" --sets "test"
#
# Writes exp/enh_<model>/decode_<set>/ and exp/peer_<peer>/decode_<set>/, each with spk1.scp (the
# enhanced wavs, the keys of data/<set>/wav.scp). --decode-model-config overrides parts of each
# model's config at decoding (conf/decode_model.yaml: separator_conf.mix_back); a copy of it is kept
# as decode_<set>/decode_model.yaml for the report. Each is a step keyed (local/lib.sh) on the
# checkpoint, the configs and the data set; a model's decoding cut short redoes only the jobs
# without their marker.
set -euo pipefail

models="dl pl"                # model tags: exp/enh_<tag>
peers=                        # peer systems: gtcrn, dfn3
sets="test"                   # data/<set> to enhance
nj=2                          # parallel jobs per model and set
cmd=run.pl                    # job launcher (decode_cmd of cmd.sh)
ngpu=0                        # GPUs per job
model=valid.loss.best.pth     # checkpoint inside exp/enh_<tag>
decode_config=conf/decode.yaml # enh_inference options
decode_model_config=conf/decode_model.yaml # overrides of the models' configs (--inference_config); empty: none
fs=16000
peers_venv=.venv-peers        # the peers' environment
peers_threads=1               # onnxruntime threads (GTCRN)

help_message="Usage: $0 [options]
Enhance data/<set> for each of --sets with every model of --models and every peer of --peers."
. utils/parse_options.sh
. local/lib.sh
expect_args 0 "$@"
# the model-config overrides are needed only when there are models to decode
[ -z "${models// /}" ] || [ -z "${decode_model_config}" ] || [ -f "${decode_model_config}" ] ||
    die "--decode-model-config ${decode_model_config}: no such file"

decode_model() { # decode_model <exp-dir> <data-dir> <decode-dir>
    local exp_dir=$1 data_dir=$2 decode_dir=$3 key _nj logdir
    local model_file=${exp_dir}/${model}
    # the checkpoint and the model config first: local/seed_runs.sh compares the lines after them
    key=$(key_of "file:${model_file}" "file:${exp_dir}/config.yaml" "file:${decode_config}" \
        ${decode_model_config:+"file:${decode_model_config}"} "fs=${fs}" "$(data_key "${data_dir}")")
    if step_done "${decode_dir}" "${key}"; then
        log "${decode_dir} is up to date with ${model_file} and ${data_dir}"
        return 0
    fi
    step_begin "${decode_dir}" "${key}"
    logdir=${decode_dir}/logdir
    _nj=$(capped_nj "${nj}" "${data_dir}/wav.scp")
    mkdir -p "${logdir}"
    split_list "${data_dir}/wav.scp" "${_nj}" "${logdir}/keys.JOB.scp"
    log "Decoding $(wc -l < "${data_dir}/wav.scp") utterances of ${data_dir} with ${model_file} in ${_nj}" \
        "jobs (logs: ${logdir}/inference.*.log)"
    ${cmd} --gpu "${ngpu}" JOB=1:"${_nj}" "${logdir}/inference.JOB.log" \
        local/decode_job.sh "${logdir}/output.JOB" "${logdir}/keys.JOB.scp" \
        python3 pyscripts/enh_inference.py --ngpu "${ngpu}" --fs "${fs}" --config "${decode_config}" \
        --train_config "${exp_dir}/config.yaml" --model_file "${model_file}" \
        ${decode_model_config:+--inference_config "${decode_model_config}"} \
        --data_path_and_name_and_type "${data_dir}/wav.scp,speech_mix,sound" \
        --key_file "${logdir}/keys.JOB.scp" --output_dir "${logdir}/output.JOB"
    for j in $(seq "${_nj}"); do cat "${logdir}/output.${j}/spk1.scp"; done | sort > "${logdir}/spk1.scp"
    cmp -s <(cut -d' ' -f1 "${logdir}/spk1.scp") <(cut -d' ' -f1 "${data_dir}/wav.scp") ||
        die "the enhanced list ${logdir}/spk1.scp and ${data_dir}/wav.scp have different keys"
    rm -f "${decode_dir}/decode_model.yaml"
    [ -z "${decode_model_config}" ] || cp "${decode_model_config}" "${decode_dir}/decode_model.yaml"
    mv "${logdir}/spk1.scp" "${decode_dir}/spk1.scp"
    step_end "${decode_dir}"
    log "Enhanced $(wc -l < "${decode_dir}/spk1.scp") utterances: ${decode_dir}/spk1.scp"
}

decode_peer() { # decode_peer <system> <data-dir> <decode-dir>
    local system=$1 data_dir=$2 decode_dir=$3 key
    key=$(key_of "system=${system}" "file:${peers_venv}/.done" "$(data_key "${data_dir}")")
    if step_done "${decode_dir}" "${key}"; then
        log "${decode_dir} is up to date with ${data_dir}"
        return 0
    fi
    step_begin "${decode_dir}" "${key}"
    log "Enhancing ${data_dir} with ${system} into ${decode_dir}"
    "${peers_venv}/bin/python" pyscripts/peers.py --system "${system}" --data "${data_dir}" \
        --out "${decode_dir}" --threads "${peers_threads}"
    step_end "${decode_dir}"
}

for p in ${peers}; do
    case "${p}" in
        gtcrn | dfn3) ;;
        *) die "unknown peer system '${p}' (--peers; known: gtcrn dfn3)" ;;
    esac
done
[ -z "${peers}" ] || local/setup_peers_env.sh --venv "${peers_venv}"
for dset in ${sets}; do
    [ -s "data/${dset}/wav.scp" ] || die "data/${dset}/wav.scp is missing or empty (--sets)"
    for m in ${models}; do
        [ -f "exp/enh_${m}/${model}" ] || die "exp/enh_${m}/${model} is missing: train ${m} first (stage 4)"
        decode_model "exp/enh_${m}" "data/${dset}" "exp/enh_${m}/decode_${dset}"
    done
    for p in ${peers}; do
        decode_peer "${p}" "data/${dset}" "exp/peer_${p}/decode_${dset}"
    done
done
