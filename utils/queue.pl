#!/usr/bin/env perl
# queue.pl: run a command as a Grid Engine array job (qsub), with the interface of run.pl.
#
#   queue.pl [options] [JOB=1:N] LOGFILE COMMAND...
#
# The JOB range, the log files (header "# <command>", "# Started at", footer "# Accounting:",
# "# Ended (code N)") and the exit status are those of run.pl, and so is the rule for COMMAND: every
# word reaches the job as exactly one argument, byte for byte (no word is shell syntax; a pipe needs
# "bash -o pipefail -c '...'"). The job script holds the command line with each word single-quoted
# and JOB in place; it replaces JOB by the task index and runs that line with bash. The log header
# is printed from the same line with printf, so printing it runs nothing. The log file name may hold
# any characters as well. The job runs in the current directory, after sourcing ./path.sh when
# there is one.
#
# How it works: the generic options are mapped to scheduler flags by a Kaldi-style config
# (conf/queue.conf, or --config FILE, or the built-in default below when neither exists); a job
# script is written to <logdir>/q/<name>.sh and submitted once as an array job; then queue.pl waits,
# checking each task's exit-status file (<logdir>/q/<name>.<run>.<task>.status, written by the job
# script) and the scheduler's own view of the job (qstat, or squeue for Slurm). A task that leaves
# the queue without an exit status (deleted, killed, lost with its node) or that the scheduler puts
# in an error state counts as failed (with what sacct/qacct say about it, where the scheduler keeps accounts). The
# submit command and the scheduler's answer go to <logdir>/q/<name>.log.
#
# slurm.pl is this same program with the Slurm back-end (sbatch/squeue, conf/slurm.conf).
#
# Config lines ('#' starts a comment):
#   command qsub -v PATH -cwd -S /bin/bash     the submit command and the flags always given
#   option mem=* -l mem_free=$0                --mem X adds these flags, with $0 replaced by X
#   option mem=0                               ... but --mem 0 adds nothing (exact values win)
#   default gpu=0                              as if --gpu 0 were given when it is not
# An option given on the command line that the config has no rule for is an error.
#
# Options of queue.pl itself (not mapped through the config):
#   --config FILE        config to use instead of conf/queue.conf
#   --max-jobs-run N     tasks of the array that may run at once (qsub -tc, sbatch --array=...%N)
#   --name NAME          job name (default: the log file's name without JOB and .log)
#   --poll-interval S    longest pause between two checks of the job (default 10; the first checks
#                        come sooner)
#   --timeout S          give up after S seconds: cancel the job and fail (default 0: no limit;
#                        queue.pl still stops waiting when the scheduler no longer has the job)
#   --grace S            how long a task may be gone from the queue before its exit-status file
#                        must have appeared (default 60, for slow shared file systems)
#   --dry-run            print the submit command and write the job script, but submit nothing
package TfgplScheduler;

use strict;
use warnings;
use Config;
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use File::Spec;
use POSIX ();
use Text::ParseWords qw(shellwords);
use Time::HiRes qw(time sleep);

BEGIN {
    my $dir = dirname(File::Spec->rel2abs(__FILE__));
    require "$dir/run.pl";    # TfgplJobArgs: the argument parsing shared with run.pl
}

my %BACKEND = (
    sge => {
        prog => 'queue.pl', conf => 'conf/queue.conf', task_var => 'SGE_TASK_ID',
        submit => 'qsub', cancel => 'qdel',
        default_conf => <<'EOF',
command qsub -v PATH -cwd -S /bin/bash
option mem=* -l mem_free=$0
option mem=0
option num_threads=* -pe smp $0
option num_threads=1
option time=* -l h_rt=$0
default gpu=0
option gpu=0
option gpu=* -l gpu=$0 -q g.q
EOF
    },
    slurm => {
        prog => 'slurm.pl', conf => 'conf/slurm.conf', task_var => 'SLURM_ARRAY_TASK_ID',
        submit => 'sbatch', cancel => 'scancel',
        default_conf => <<'EOF',
command sbatch --export=PATH --ntasks-per-node=1
option mem=* --mem-per-cpu $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
option time=* --time $0
default gpu=0
option gpu=0
option gpu=* -p gpu --gres=gpu:$0
EOF
    },
);

# Slurm states after which a task will not write its exit status (it was stopped from outside).
my %SLURM_KILLED = map { $_ => 1 } qw(CANCELLED TIMEOUT NODE_FAIL PREEMPTED BOOT_FAIL DEADLINE
    OUT_OF_MEMORY REVOKED);
my %SLURM_ENDED = (%SLURM_KILLED, map { $_ => 1 } qw(COMPLETED FAILED SPECIAL_EXIT));
my @SIGNAL_NAME = split ' ', $Config{sig_name};
my %OWN_OPTIONS = map { $_ => 1 } qw(config max_jobs_run name poll_interval timeout grace dry_run);

sub main {
    my ($kind, @argv) = @_;
    my $be = $BACKEND{$kind} or die "unknown back-end $kind\n";
    my $prog = $be->{prog};
    my $code = eval { run($be, @argv) };
    return $code if defined $code;
    print STDERR $@ =~ /^\Q$prog\E: / ? $@ : "$prog: $@";
    return 1;
}

sub run {
    my ($be, @argv) = @_;
    my $prog = $be->{prog};
    my $job = eval { TfgplJobArgs::parse($prog, \@argv, { dry_run => 1 }) };
    die "$@usage: $prog [options] [JOB=1:N] LOGFILE COMMAND...\n" unless $job;
    my %own = (max_jobs_run => 0, poll_interval => 10, timeout => 0, grace => 60, dry_run => 'false');
    my @mapped;
    for my $name (@{ $job->{opt_order} }) {
        if ($OWN_OPTIONS{$name}) { $own{$name} = $job->{opts}{$name}; }
        else { push @mapped, [$name, $job->{opts}{$name}]; }
    }
    for my $name (qw(max_jobs_run timeout)) {
        TfgplJobArgs::positive_int($prog, $name, $own{$name}, 0);
    }
    for my $name (qw(poll_interval grace)) {
        die "$prog: --" . TfgplJobArgs::dashed($name) . " must be a number of seconds, not '$own{$name}'\n"
            unless $own{$name} =~ /^\d+(\.\d+)?$/;
    }
    die "$prog: --dry-run takes no value (or true/false), not '$own{dry_run}'\n"
        unless $own{dry_run} =~ /^(true|false)$/;
    my $config = load_config($be, $own{config});
    my ($flags, $threads) = map_options($prog, $config, \@mapped);

    # Each word quoted, JOB left in place: the job script replaces JOB by the task index in this line,
    # which is the same as quoting the words after replacing (JOB is letters, digits and _, so every
    # match lies inside one word, and the index is digits, which need no quotes).
    my $cmd = TfgplJobArgs::command_line(@{ $job->{words} });
    my $log = $job->{log};
    my $qdir = File::Spec->rel2abs(dirname($log)) . '/q';
    my $base = job_base($log, $job->{job_var});
    my $run_id = sprintf '%d_%d', time, $$;
    my $status = "$qdir/$base.$run_id";    # + ".<task>.status"
    my $script = "$qdir/$base.sh";
    my $out = scheduler_out_path($be, $qdir, $base);
    my $name = defined $own{name} ? $own{name} : $base;
    $name =~ s/[^\w.-]/_/ag;
    $name = "j$name" if $name =~ /^\d/ || !length $name;
    my @submit = (@{ $config->{command} }, @$flags);
    my ($first, $last) = ($job->{first}, $job->{last});
    if ($be->{submit} eq 'qsub') {
        push @submit, '-terse', '-N', $name, '-o', ($out // '/dev/null'), '-j', 'y', '-t', "$first-$last";
        push @submit, '-tc', $own{max_jobs_run} if $own{max_jobs_run};
    } else {
        my $array = "$first-$last" . ($own{max_jobs_run} ? "%$own{max_jobs_run}" : '');
        push @submit, '--parsable', '--job-name', $name, '-o', ($out // '/dev/null'), "--array=$array";
    }
    push @submit, $script;

    make_path($qdir) unless -d $qdir;
    write_script($be, $script, $cmd, $log, $job->{job_var}, $status, $threads,
        defined $out ? undef : "$qdir/$base");
    my $shown = join ' ', map { TfgplJobArgs::quote($_) } @submit;
    if ($own{dry_run} eq 'true') {
        print "$shown\n";
        return 0;
    }

    my ($rc, $answer) = capture(@submit);
    my $qlog = "$qdir/$base.log";
    write_file($qlog, "# $shown\n# submitted at " . localtime() . ", exit status $rc\n$answer");
    my ($job_id) = $answer =~ /^\s*(\d+)/m;
    if ($rc != 0 || !defined $job_id) {
        $answer =~ s/\s+$//;
        die "$prog: $be->{submit} rejected the job (exit status $rc): $answer\n"
            . "$prog: nothing ran; the submit command is in $qlog\n";
    }
    return wait_for($be, $job_id, $job, $status, \%own, $qdir, $base);
}

# Read the config (--config, else conf/<x>.conf in the current directory, else the built-in one).
sub load_config {
    my ($be, $path) = @_;
    my $prog = $be->{prog};
    my $text;
    if (defined $path) {
        die "$prog: config file not found: $path\n" unless -f $path;
    } elsif (-f $be->{conf}) {
        $path = $be->{conf};
    }
    if (defined $path) {
        open(my $fh, '<', $path) or die "$prog: cannot read $path: $!\n";
        local $/;
        $text = <$fh>;
        close $fh;
    } else {
        ($path, $text) = ("the built-in default config of $prog", $be->{default_conf});
    }
    return parse_config($prog, $path, $text);
}

sub parse_config {
    my ($prog, $path, $text) = @_;
    my %cfg = (path => $path, exact => {}, wild => {}, default => {});
    my $n = 0;
    for my $line (split /\n/, $text) {
        $n++;
        (my $l = $line) =~ s/#.*//;
        $l =~ s/^\s+|\s+$//g;
        next unless length $l;
        my @words = eval { shellwords($l) };
        if ($l =~ /^command\s+\S/ && @words > 1) {
            shift @words;
            $cfg{command} = \@words;
        } elsif ($l =~ /^option\s+([A-Za-z][\w-]*)=(\S+)(?:\s+(.*))?$/) {
            my ($name, $value, $flags) = ($1, $2, defined $3 ? $3 : '');
            $name =~ tr/-/_/;
            my @flags = eval { shellwords($flags) };
            die "$prog: $path line $n: unbalanced quotes in '$line'\n" if $flags ne '' && !@flags;
            die "$prog: $path line $n: --$name is an option of $prog itself and cannot be mapped\n"
                if $OWN_OPTIONS{$name};
            if ($value eq '*') { $cfg{wild}{$name} = \@flags; }
            else { $cfg{exact}{$name}{$value} = \@flags; }
        } elsif ($l =~ /^default\s+([A-Za-z][\w-]*)=(\S+)$/) {
            (my $name = $1) =~ tr/-/_/;
            $cfg{default}{$name} = $2;
        } else {
            die "$prog: $path line $n: cannot parse '$line' (expected 'command PROGRAM FLAGS...', "
                . "'option NAME=VALUE FLAGS...', 'option NAME=* FLAGS-WITH-\$0' or 'default NAME=VALUE')\n";
        }
    }
    die "$prog: $path has no 'command' line (e.g. 'command sbatch --export=PATH')\n" unless $cfg{command};
    for my $name (sort keys %{ $cfg{default} }) {
        die "$prog: $path: 'default $name=...' but no 'option $name=' line says what it means\n"
            unless $cfg{wild}{$name} || $cfg{exact}{$name};
    }
    return \%cfg;
}

# Turn the generic options (and the config's defaults) into scheduler flags.
sub map_options {
    my ($prog, $cfg, $given) = @_;
    my @pairs = @$given;
    my %seen = map { $_->[0] => 1 } @pairs;
    push @pairs, map { [$_, $cfg->{default}{$_}] } grep { !$seen{$_} } sort keys %{ $cfg->{default} };
    my (@flags, $threads);
    for my $pair (@pairs) {
        my ($name, $value) = @$pair;
        my $opt = '--' . TfgplJobArgs::dashed($name);
        my $exact = $cfg->{exact}{$name};
        if ($exact && $exact->{$value}) {
            push @flags, @{ $exact->{$value} };
        } elsif ($cfg->{wild}{$name}) {
            push @flags, map { (my $f = $_) =~ s/\$0/$value/g; $f } @{ $cfg->{wild}{$name} };
        } elsif ($exact) {
            die "$prog: $cfg->{path} has no rule for $opt $value (only for: "
                . join(' ', sort keys %$exact) . ")\n";
        } else {
            die "$prog: unknown option $opt: neither an option of $prog nor one that $cfg->{path} maps\n";
        }
        $threads = $value if $name eq 'num_threads' && $value =~ /^\d+$/;
    }
    return (\@flags, $threads || 1);
}

# The scheduler's output file for each task, as its -o option wants it: qsub expands $TASK_ID (and
# $HOME, $USER, ...) and reads "host:path,..." lists; sbatch expands %a (and %j, ...), "%%" being a
# "%". undef when the folder's name holds characters that cannot be written there (":", ",", "$"
# for qsub; "\" for sbatch; a line break): then the scheduler writes to /dev/null and the job script
# sends its own output to <qdir>/<base>.<task>.out.
sub scheduler_out_path {
    my ($be, $qdir, $base) = @_;
    return undef if $qdir =~ /[\n\r]/;
    if ($be->{submit} eq 'qsub') {
        return undef if $qdir =~ /[:,\$\\]/;
        return "$qdir/$base.\$TASK_ID.out";
    }
    return undef if $qdir =~ /\\/;
    (my $dir = $qdir) =~ s/%/%%/g;
    return "$dir/$base.%a.out";
}

sub job_base {
    my ($log, $var) = @_;
    my $base = basename($log);
    if (defined $var) { $base =~ s/\.\Q$var\E\b|\Q$var\E\.|\Q$var\E//g; }
    $base =~ s/\.log$//;
    $base =~ s/[^\w.-]/_/g;
    return length $base ? $base : 'job';
}

# The job script: substitutes the task index at run time, exactly as run.pl does for each job.
# Every value from the caller (folder, command line, log name, status file) is written single-quoted;
# $own_out (a path prefix) makes the script send its own output to <prefix>.<task>.out.
sub write_script {
    my ($be, $path, $cmd, $log, $var, $status, $threads, $own_out) = @_;
    my $q = \&TfgplJobArgs::quote;
    my $subst = defined $var ? "//$var/\${task}" : '';
    my $cwd = File::Spec->rel2abs('.');
    my $redirect = defined $own_out ? "exec >> ${\ $q->($own_out)}.\"\${task}.out\" 2>&1\n" : '';
    my $text = <<"EOF";
#!/usr/bin/env bash
# Job script written by $be->{prog} at ${\ scalar localtime}; runs one task of an array job.
# The caller's values below are single-quoted on purpose: nothing in them is expanded.
# shellcheck disable=SC1003,SC2016
task=\${$be->{task_var}:?this script runs as a task of an array job}
case \$task in '' | *[!0-9]*) echo "$be->{task_var} is not a number: \$task" >&2; exit 1 ;; esac
${redirect}cd ${\ $q->($cwd)} || exit 1
# shellcheck source=/dev/null
if [ -f ./path.sh ]; then . ./path.sh; fi
# The command line: each word single-quoted, so that bash passes it on as exactly that argument.
cmd_template=${\ $q->($cmd)}
log_template=${\ $q->($log)}
cmd=\${cmd_template$subst}
log=\${log_template$subst}
status=${\ $q->($status)}.\${task}.status
mkdir -p -- "\$(dirname -- "\$log")" || exit 1
{
    printf '# %s\\n' "\${cmd//\$'\\n'/\$'\\n'# }"
    printf '# Started at %s\\n' "\$(date)"
    printf '# Running on %s as task %s of job %s\\n' "\$(hostname)" "\$task" \\
        "\${SLURM_ARRAY_JOB_ID:-\${JOB_ID:-?}}"
} > "\$log" || exit 1
start=\$(date +%s)
# Pass a stop request on to the command, so that the footer and the exit status still get written.
trap 'kill -TERM "\$child" 2>/dev/null' TERM INT
bash -o pipefail -c "\$cmd" >> "\$log" 2>&1 &
child=\$!
ret=0
wait "\$child" || ret=\$?
while kill -0 "\$child" 2>/dev/null; do ret=0; wait "\$child" || ret=\$?; done
printf '# Accounting: time=%s threads=$threads\\n' "\$((\$(date +%s) - start))" >> "\$log"
printf '# Ended (code %s) at %s\\n' "\$ret" "\$(date)" >> "\$log"
printf '%s\\n' "\$ret" > "\$status.tmp" && mv -f -- "\$status.tmp" "\$status"
exit "\$ret"
EOF
    write_file($path, $text);
    chmod 0755, $path;
}

sub write_file {
    my ($path, $text) = @_;
    my $tmp = "$path.tmp$$";
    open(my $fh, '>', $tmp) or die "cannot write $tmp: $!\n";
    print $fh $text;
    close $fh or die "cannot write $tmp: $!\n";
    rename $tmp, $path or die "cannot rename $tmp to $path: $!\n";
}

# Run a command without a shell; returns (exit status, stdout and stderr together).
sub capture {
    my @cmd = @_;
    my $pid = open(my $fh, '-|');
    die "fork failed: $!\n" unless defined $pid;
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        exec { $cmd[0] } @cmd or print "cannot run $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    my $rc = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
    return ($rc, defined $out ? $out : '');
}

# The scheduler's view of the job: { task => state }, {} when it no longer knows the job, or undef
# when the query itself failed (then we simply ask again later).
sub job_states {
    my ($be, $job_id) = @_;
    my %states;
    if ($be->{submit} eq 'qsub') {
        my ($rc, $out) = capture('qstat', '-g', 'd', '-u', '*');
        return (undef, "qstat: exit status $rc: " . first_line($out)) if $rc != 0;
        for my $line (split /\n/, $out) {
            my @f = split ' ', $line;
            next unless @f >= 6 && $f[0] eq $job_id;
            my $task = $f[-1] =~ /^\d+$/ ? $f[-1] : 1;
            $states{$task} = $f[4] =~ /E/ ? "ERROR($f[4])" : $f[4];
        }
        return \%states;
    }
    my ($rc, $out) = capture('squeue', '-h', '-t', 'all', '-j', $job_id, '-o', '%i|%T|%r');
    return {} if $rc != 0 && $out =~ /Invalid job id/i;
    return (undef, "squeue: exit status $rc: " . first_line($out)) if $rc != 0;
    for my $line (split /\n/, $out) {
        my ($id, $state, $reason) = split /\|/, $line;
        next unless defined $state;
        $state .= " ($reason)" if $state eq 'PENDING' && defined $reason && $reason ne 'None';
        if ($id =~ /^\d+_(\d+)$/) {
            $states{$1} = $state;
        } elsif ($id =~ /^\d+_\[(.*)\]$/) {
            (my $ranges = $1) =~ s/%\d+$//;
            for my $r (split /,/, $ranges) {
                my ($lo, $hi, $step) = $r =~ /^(\d+)(?:-(\d+))?(?::(\d+))?$/ or next;
                $hi = $lo unless defined $hi;
                for (my $t = $lo; $t <= $hi; $t += ($step || 1)) { $states{$t} = $state; }
            }
        } elsif ($id =~ /^\d+$/) {
            $states{1} = $state;
        }
    }
    return \%states;
}

# What the scheduler's accounting (sacct, qacct) says about each task, when it keeps accounts:
# { task => "CANCELLED by 0, exit code 0:15" }; {} when there is nothing to say.
sub accounting {
    my ($be, $job_id) = @_;
    my %info;
    if ($be->{submit} eq 'qsub') {
        my ($rc, $out) = capture('qacct', '-j', $job_id);
        return {} if $rc != 0;
        for my $block (split /^=+\s*$/m, $out) {
            my ($task) = $block =~ /^taskid\s+(\d+)/m or next;
            my ($failed) = $block =~ /^failed\s+(.*?)\s*$/m;
            my ($exit) = $block =~ /^exit_status\s+(.*?)\s*$/m;
            $info{$task} = join ', ', grep { defined } (defined $exit ? "exit_status $exit" : undef),
                (defined $failed && $failed ne '0' ? "failed $failed" : undef);
        }
        return \%info;
    }
    my ($rc, $out) = capture('sacct', '-n', '-P', '-X', '-j', $job_id, '-o', 'JobID,State,ExitCode');
    return {} if $rc != 0;
    for my $line (split /\n/, $out) {
        my ($id, $state, $exit) = split /\|/, $line;
        next unless defined $exit && $id =~ /^\d+_(\d+)$/;
        $info{$1} = "$state, exit code $exit";
    }
    return \%info;
}

sub task_ended_badly {
    my ($be, $state) = @_;
    return $state =~ /^ERROR/ if $be->{submit} eq 'qsub';
    return $SLURM_KILLED{ (split ' ', $state)[0] };
}

sub task_ended {
    my ($be, $state) = @_;
    return 0 if $be->{submit} eq 'qsub';    # qstat lists only jobs that have not ended
    return $SLURM_ENDED{ (split ' ', $state)[0] };
}

sub wait_for {
    my ($be, $job_id, $job, $status, $own, $qdir, $base) = @_;
    my $prog = $be->{prog};
    my @tasks = ($job->{first} .. $job->{last});
    my %log_of = map { $_ => TfgplJobArgs::substitute($job->{log}, $job->{job_var}, $_) } @tasks;
    my %todo = map { $_ => 1 } @tasks;
    my (%code, %why, %gone_since);
    my $start = time;
    my $pause = 0.5;
    my $stop_signal;
    local $SIG{INT} = sub { $stop_signal ||= 'INT' };
    local $SIG{TERM} = sub { $stop_signal ||= 'TERM' };
    local $SIG{HUP} = sub { $stop_signal ||= 'HUP' };
    my $states = {};
    my $last_warning = 0;
    while (%todo) {
        for my $t (sort { $a <=> $b } keys %todo) {
            my $file = "$status.$t.status";
            next unless -f $file;
            open(my $fh, '<', $file) or next;
            my $line = <$fh>;
            close $fh;
            next unless defined $line && $line =~ /^(\d+)/;
            $code{$t} = $1;
            delete $todo{$t};
            unlink $file;
        }
        last unless %todo;
        if ($stop_signal) {
            capture($be->{cancel}, $job_id);
            die "$prog: stopped by SIG$stop_signal; cancelled job $job_id ($be->{cancel} $job_id); "
                . "logs are in " . dirname($log_of{ $tasks[0] }) . "\n";
        }
        if ($own->{timeout} && time - $start > $own->{timeout}) {
            capture($be->{cancel}, $job_id);
            my @left = sort { $a <=> $b } keys %todo;
            my $what = join ', ',
                map { "task $_: " . ($states->{$_} || 'not in the queue') } @left[0 .. min(4, $#left)];
            die "$prog: timed out after $own->{timeout} s waiting for job $job_id ("
                . scalar(@left) . " of " . scalar(@tasks) . " tasks unfinished; $what); cancelled it "
                . "with $be->{cancel}; first unfinished log: $log_of{ $left[0] }\n";
        }
        my ($now_states, $error) = job_states($be, $job_id);
        if (!$now_states && time - $last_warning > 600) {
            print STDERR "$prog: cannot get the state of job $job_id ($error); still waiting\n";
            $last_warning = time;
        }
        if ($now_states) {
            $states = $now_states;
            for my $t (keys %todo) {
                my $state = $states->{$t};
                if (defined $state && task_ended_badly($be, $state)) {
                    ($why{$t}, $code{$t}) = ("the scheduler reports $state", undef);
                    delete $todo{$t};
                } elsif (defined $state && !task_ended($be, $state)) {
                    delete $gone_since{$t};
                } else {
                    $gone_since{$t} = time unless defined $gone_since{$t};
                    next if time - $gone_since{$t} < $own->{grace};
                    $why{$t} = defined $state
                        ? "the scheduler reports $state but the task wrote no exit status"
                        : "the task left the queue without writing an exit status (killed or lost)";
                    delete $todo{$t};
                }
            }
        }
        last unless %todo;
        sleep $pause;
        $pause = min($pause * 1.5, $own->{poll_interval} || 0.5);
    }
    my @failed = grep { !defined $code{$_} || $code{$_} != 0 } @tasks;
    return 0 unless @failed;
    capture($be->{cancel}, $job_id) if grep { /ERROR/ } values %why;    # do not leave it in Eqw
    my ($final) = (grep { defined $code{$_} } @failed) ? job_states($be, $job_id) : ({});
    $final ||= {};
    my $accounting = (grep { !defined $code{$_} } @failed) ? accounting($be, $job_id) : {};
    for my $t (@failed[0 .. min(9, $#failed)]) {
        my $what = $why{$t};
        $what .= "; accounting says $accounting->{$t}" if defined $what && $accounting->{$t};
        if (!defined $what) {
            $what = "exit code $code{$t}";
            my $signal = $code{$t} > 128 ? $SIGNAL_NAME[$code{$t} - 128] : undef;
            $what .= " (killed by SIG$signal)" if $signal;
            $what .= "; the scheduler reports $final->{$t}" if $final->{$t};
        }
        my $where = -f $log_of{$t} ? $log_of{$t} : "$log_of{$t} (not written; see $qdir/$base.$t.out)";
        print STDERR "$prog: task $t of job $job_id failed: $what; log: $where\n";
    }
    print STDERR "$prog: ... and " . (@failed - 10) . " more failed tasks\n" if @failed > 10;
    print STDERR TfgplJobArgs::shell_syntax_hint($prog, @{ $job->{words} });
    printf STDERR "%s: %d / %d failed, log is in %s\n", $prog, scalar(@failed), scalar(@tasks),
        $log_of{ $failed[0] };
    return 1;
}

sub first_line {
    my ($text) = @_;
    my ($line) = split /\n/, $text;
    return defined $line ? $line : '';
}

sub min { return $_[0] < $_[1] ? $_[0] : $_[1]; }

package main;

exit(TfgplScheduler::main('sge', @ARGV)) unless caller;
1;
