# shellcheck shell=bash
# What every stage helper shares, sourced by run.sh and each local/*.sh after its option parsing:
# logging, job counts and list splitting, and the one rule for deciding that a step is done.
#
#   . local/lib.sh
#
# The rule for "done" (docs/design.md, "Steps and their keys"): a step's KEY is a text that names
# everything its outputs depend on: its options, and the content of every file it reads (configs,
# lists, checkpoints, and the markers of the steps before it, which hold their own keys, so a change
# anywhere upstream reaches every step below). A step writes its outputs into its own folder:
#
#   step_done DIR KEY   true when DIR/.done holds KEY: the outputs are complete and up to date
#   step_begin DIR KEY [keep]
#                       before the work: when DIR holds outputs of another key (other inputs or
#                       options, or no .key at all), they are removed first, or with `keep` (for
#                       what is costly to make: a trained model) moved to DIR.superseded-<time>/;
#                       then DIR/.key = KEY. Outputs of an interrupted run with the same key stay,
#                       so the step resumes where it stopped.
#   step_end DIR        after the work: DIR/.done = DIR/.key, written atomically, last.
#
# key_of builds a KEY: `key_of name=value ... file:PATH ...` prints one line per argument, a
# name=value as given and a file as "PATH sha1-of-its-content".

_where() { # the script, line and function that called into this library (for log lines)
    local i=1
    while [ "${i}" -lt "$(( ${#BASH_SOURCE[@]} - 1 ))" ] && [ "${BASH_SOURCE[i]##*/}" = lib.sh ]; do
        i=$((i + 1))
    done
    echo "${BASH_SOURCE[i]##*/}:${BASH_LINENO[i - 1]}:${FUNCNAME[i]}"
}

log() {
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(_where)) $*"
}

die() { # die MESSAGE: log it as an error (naming the caller's place) and exit 1
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(_where)) Error: $*" >&2
    exit 1
}

die_usage() { # die_usage MESSAGE: a wrong option or argument: log it as an error and exit 2
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(_where)) Error: $*" >&2
    exit 2
}

capped_nj() { # capped_nj NJ LIST: NJ, or the number of lines of LIST when that is smaller (>= 1)
    local n
    n=$(wc -l < "$2")
    [ "${n}" -ge 1 ] || die "$2 is empty: nothing to split into jobs"
    echo $(( $1 < n ? $1 : n ))
}

split_list() { # split_list LIST NJ PATTERN: LIST into NJ parts, PATTERN with JOB replaced by 1..NJ
    local list=$1 nj=$2 pattern=$3 parts=() j
    mkdir -p "$(dirname "${pattern}")"
    for j in $(seq "${nj}"); do parts+=("${pattern//JOB/${j}}"); done
    utils/split_scp.pl "${list}" "${parts[@]}"
}

run_batches() { # run_batches N FUNC ARG...: FUNC ARG for every ARG, N at a time (each batch waited
    # for before the next starts); every ARG is tried, then an error names those whose FUNC failed
    local n=$1 fn=$2 i
    shift 2
    local -a failed=()
    while [ $# -gt 0 ]; do
        local -a pids=() names=()
        for ((i = 0; i < n && $# > 0; i++)); do
            "${fn}" "$1" &
            pids+=("$!")
            names+=("$1")
            shift
        done
        for i in "${!pids[@]}"; do wait "${pids[i]}" || failed+=("${names[i]}"); done
    done
    [ "${#failed[@]}" -eq 0 ] || die "${fn} failed for: ${failed[*]}"
}

file_key() { # file_key PATH: "PATH sha1" of a file's content, or an error naming a missing file
    [ -f "$1" ] || die "$1 is missing (needed to decide whether a step is up to date)"
    printf '%s %s\n' "$1" "$(sha1sum < "$1" | cut -c1-40)"
}

key_of() { # key_of [name=value | file:PATH]...: the key of a step, one line per argument
    local arg
    for arg in "$@"; do
        case "${arg}" in
            file:*) file_key "${arg#file:}" ;;
            *) printf '%s\n' "${arg}" ;;
        esac
    done
}

write_atomic() { # write_atomic PATH TEXT: PATH holds TEXT (and a newline), or is left as it was
    local tmp
    tmp=$(mktemp "$(dirname "$1")/.$(basename "$1").XXXXXX")
    printf '%s\n' "$2" > "${tmp}"
    mv -f "${tmp}" "$1"
}

step_done() { # step_done DIR KEY
    [ -f "$1/.done" ] && [ "$(cat "$1/.done")" = "$2" ]
}

step_begin() { # step_begin DIR KEY [keep]
    local dir=$1 key=$2 keep=${3:-} old why
    if [ -f "${dir}/.key" ]; then
        old=$(cat "${dir}/.key")
        why="what changed: $(diff <(printf '%s\n' "${old}") <(printf '%s\n' "${key}") | grep '^[<>]' |
            head -n 6 | tr '\n' ' ')" || true
    elif [ -d "${dir}" ] && [ -n "$(ls -A "${dir}")" ]; then
        old="(none)"
        why="it has no ${dir}/.key"
    fi
    if [ -n "${old+set}" ] && [ "${old}" != "${key}" ]; then
        if [ "${keep}" = keep ]; then
            local aside
            aside=${dir}.superseded-$(date '+%Y%m%dT%H%M%S')
            log "${dir} was made from other inputs or options (${why}); moving it to ${aside}"
            mv "${dir}" "${aside}"
        else
            log "${dir} holds outputs of other inputs or options (${why}); removing them"
            find "${dir}" -mindepth 1 -delete
        fi
    fi
    mkdir -p "${dir}"
    write_atomic "${dir}/.key" "${key}"
}

step_end() { # step_end DIR
    write_atomic "$1/.done" "$(cat "$1/.key")"
}

data_opts() { # data_opts SPLIT DIR: ESPnet's --SPLIT_data_path_and_name_and_type options, one word a line
    # Names by the files present: wav.scp -> speech_mix, spk1.scp -> speech_ref1, noise1.scp ->
    # noise_ref1. A training dir for on-the-fly mixing (data/train_dm) has spk1.scp only.
    local split=$1 dir=$2 pair
    for pair in wav.scp,speech_mix spk1.scp,speech_ref1 noise1.scp,noise_ref1; do
        if [ -f "${dir}/${pair%%,*}" ]; then
            printf '%s\n' "--${split}_data_path_and_name_and_type" "${dir}/${pair},sound"
        fi
    done
}

data_key() { # data_key DIR: the key argument for a data dir: its marker, or its wav.scp when it has none
    if [ -f "$1/.done" ]; then echo "file:$1/.done"; else echo "file:$1/wav.scp"; fi
}

check_int() { # check_int OPTION VALUE MIN [MAX]: an error naming --OPTION unless VALUE is an integer in range
    local option=$1 value=$2 min=$3 max=${4:-}
    if ! [[ "${value}" =~ ^[0-9]{1,9}$ ]] || [ "$((10#${value}))" -lt "${min}" ] ||
        { [ -n "${max}" ] && [ "$((10#${value}))" -gt "${max}" ]; }; then
        local range="of at least ${min}"
        [ -z "${max}" ] || range="from ${min} to ${max}"
        die_usage "--${option//_/-} '${value}': expected an integer ${range}"
    fi
}

check_names() { # check_names OPTION VALUE [ALLOWED...]: each word of VALUE a plain name (or one of ALLOWED)
    local option=$1 value=$2 word words
    shift 2
    read -r -a words <<< "${value}"
    for word in "${words[@]}"; do
        if [ $# -gt 0 ]; then
            [[ " $* " == *" ${word} "* ]] || die_usage "--${option//_/-}: unknown '${word}' (known: $*)"
        else
            [[ "${word}" =~ ^[A-Za-z0-9][A-Za-z0-9_.+-]*$ ]] ||
                die_usage "--${option//_/-}: '${word}' is not a plain name (letters, digits, _ . + -)"
        fi
    done
}

expect_args() { # expect_args N "$@": the usage (${help_message}) and exit 2 unless there are N arguments
    local n=$1
    shift
    [ $# -eq "${n}" ] && return 0
    printf '%s\n' "${help_message:-Usage: $0 [options]}" >&2
    die_usage "expected ${n} argument(s), got $#${*:+: $*}"
}
