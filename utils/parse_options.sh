# shellcheck shell=bash
# Kaldi-style option parsing, sourced by a script after it has set its defaults:
#
#   stage=1
#   nj=4
#   . utils/parse_options.sh
#
# `--foo-bar VALUE`, `--foo_bar VALUE` and `--foo-bar=VALUE` set the shell variable foo_bar,
# which must already exist (an unknown option prints the usage and exits 2). A variable whose
# default is true or false only takes true or false. `--config FILE` sources FILE first.
# `--help` (or -h) prints ${help_message} and every option with its current value.
# Positional arguments after the options stay in "$@".

__po_list_options() {
    # Options are the top-level `name=value` lines of the calling script, in order.
    local script="$1" name
    grep -oE '^[a-z][a-z0-9_]*=' "${script}" | tr -d '=' | awk '$0 != "help_message" && !seen[$0]++' |
        while read -r name; do
            if [ -n "${!name+set}" ]; then
                printf '  --%-22s %s\n' "${name//_/-}" "${!name}"
            fi
        done
}

__po_usage() {
    if [ -n "${help_message:-}" ]; then
        printf '%s\n' "${help_message}"
    else
        printf 'Usage: %s [options]\n' "$0"
    fi
    printf '\nOptions (current values):\n'
    __po_list_options "$0"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --help | -h)
            __po_usage
            exit 0
            ;;
        --config)
            [ $# -ge 2 ] || { echo "$0: --config needs a file" >&2; exit 2; }
            [ -f "$2" ] || { echo "$0: config file not found: $2" >&2; exit 2; }
            # shellcheck disable=SC1090
            . "$2"
            shift 2
            ;;
        --?*)
            __po_arg="${1#--}"
            if [[ "${__po_arg}" == *=* ]]; then
                __po_value="${__po_arg#*=}"
                __po_arg="${__po_arg%%=*}"
                shift 1
            else
                if [ $# -lt 2 ]; then
                    echo "$0: option --${__po_arg} needs a value" >&2
                    exit 2
                fi
                __po_value="$2"
                shift 2
            fi
            __po_name="${__po_arg//-/_}"
            if ! [[ "${__po_name}" =~ ^[a-z][a-z0-9_]*$ ]] || [ -z "${!__po_name+set}" ]; then
                __po_usage >&2
                echo "$0: unknown option --${__po_arg}" >&2
                exit 2
            fi
            __po_old="${!__po_name}"
            if { [ "${__po_old}" = true ] || [ "${__po_old}" = false ]; } &&
                [ "${__po_value}" != true ] && [ "${__po_value}" != false ]; then
                echo "$0: --${__po_arg} takes true or false, not '${__po_value}'" >&2
                exit 2
            fi
            printf -v "${__po_name}" '%s' "${__po_value}"
            ;;
        --)
            shift
            break
            ;;
        *)
            break
            ;;
    esac
done
unset __po_arg __po_value __po_name __po_old
true
