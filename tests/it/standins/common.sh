# Shared by the stand-in `kind` and `docker` scripts of stackctl's cluster and test-loop tests
# (see tests/it/cluster.rs and tests/it/test_loop/). They are stand-ins, not the tools: they
# run no container, no build and no cluster. They keep what they "made" as files under
# $STANDIN_STATE and record every call.
#
# $STANDIN_STATE/
#   calls.log              one line per call: the tool and its arguments (quoted when needed)
#   stdin.log              for calls that read stdin: "== <the call>" then what they read
#   clusters/<name>        a kind cluster that exists (its content: the --config it was made from)
#   containers/<name>      a docker container: one line "state;published ports;networks", the
#                          line `docker container inspect` prints for stackctl's --format
#   networks/<name>        a docker network that exists
#   nodes/<node>/...       the files `docker exec` wrote inside a node container
#   images/built           the tags `docker build` "built", one a line (what `docker push` accepts)

# The scripts need the usual utilities whatever PATH the test gives stackctl.
PATH=/usr/bin:/bin:$PATH
state=${STANDIN_STATE:?STANDIN_STATE must name the stand-ins state directory}
mkdir -p "$state/clusters" "$state/containers" "$state/networks" "$state/nodes"

# The call, as one line: arguments with spaces or shell characters in single quotes.
call_line() {
    line=$1
    shift
    for arg in "$@"; do
        case $arg in
            '' | *[!A-Za-z0-9_./:=@,+-]*) line="$line '$arg'" ;;
            *) line="$line $arg" ;;
        esac
    done
    printf '%s\n' "$line"
}

record() {
    call_line "$@" >> "$state/calls.log"
}

# Say what went wrong on stderr, as the tool would, and exit with its code (default 1).
fail() {
    printf '%s\n' "$1" >&2
    exit "${2:-1}"
}
