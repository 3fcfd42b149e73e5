# shellcheck shell=bash
# Sourced by local/collect_stats.sh and local/train.sh: ESPnet's data options for one data dir.
#
#   data_opts SPLIT DIR    prints --SPLIT_data_path_and_name_and_type DIR/LIST,NAME,sound for each
#                          list present, one word a line (read it with mapfile)
#
# Names by the files present: wav.scp -> speech_mix, spk1.scp -> speech_ref1, noise1.scp ->
# noise_ref1. A training dir for on-the-fly mixing (data/train_dm) has spk1.scp only.
data_opts() {
    local split=$1 dir=$2 pair
    for pair in wav.scp,speech_mix spk1.scp,speech_ref1 noise1.scp,noise_ref1; do
        if [ -f "${dir}/${pair%%,*}" ]; then
            printf '%s\n' "--${split}_data_path_and_name_and_type" "${dir}/${pair},sound"
        fi
    done
}
