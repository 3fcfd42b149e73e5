#!/usr/bin/env perl
# run.pl: run a command on this machine, once or as an array of jobs, with Kaldi's interface.
#
#   run.pl [options] [JOB=1:N] LOGFILE COMMAND...
#
# With JOB=a:b the command runs once per index a..b (in parallel, --max-jobs-run at a time), and
# every "JOB" in LOGFILE and COMMAND is replaced by the index (any name works: SPLIT=1:4 replaces
# SPLIT). Each job's stdout and stderr go to its log file (the log folder is created). A log starts
# with "# <command>" and "# Started at <date>" and ends with "# Accounting: time=<s> threads=<n>" and
# "# Ended (code N) at <date>". Exit status 0 when every job succeeds; otherwise
# "run.pl: K / N failed, log is in <log>" on stderr and exit status 1.
#
# Every word of COMMAND reaches the job as exactly one argument, byte for byte, whatever it holds
# (spaces, quotes, $, `, ;, |, &, <, >, parentheses, globs, newlines, non-UTF-8 bytes, an empty
# word): the launcher single-quotes each word for bash ('\'' for a quote) and replaces JOB by the
# index inside the words, nothing else. So no word is shell syntax: a "|" or ";" word is an argument,
# and a one-word command with spaces is a program of that name. Unlike Kaldi (where words without
# spaces went to the shell raw, so a "\|" made a pipe and a path with "$(...)" ran it), a pipe,
# redirection or list needs a shell of its own, given as words:
#   run.pl JOB=1:4 log/x.JOB.log bash -o pipefail -c 'a JOB | b > out.JOB'
# The log header "# <command>" is that quoted command line, so it can be pasted into a shell.
# The LOGFILE may hold any characters too; a first word NAME=... that is no valid range is an error.
#
# Options (the same as queue.pl and slurm.pl, so cmd.sh can switch back-ends):
#   --max-jobs-run N   jobs to run at once (default: the number of cores)
#   --num-threads N    threads a job uses (written on the Accounting line; not enforced here)
#   --mem X, --gpu N, --time T, --name S, --config F   accepted and ignored on this machine
# Anything else is an error, so a typo fails here and not first on the cluster.
#
# queue.pl and slurm.pl load this file for its argument parsing (package TfgplJobArgs).
use strict;
use warnings;

package TfgplJobArgs;

# Split "[--opt value|--opt=value]... [NAME=a:b] LOGFILE COMMAND..." into its parts.
# $flags: option names (dashes turned into underscores) that take no value.
# Returns a hash ref: opts (name => value), opt_order, job_var, first, last, log, words (the command).
sub parse {
    my ($prog, $argv, $flags) = @_;
    my @args = @$argv;
    my (%opts, @order);
    while (@args && $args[0] =~ /^--./) {
        my $arg = shift @args;
        my ($name, $value) = $arg =~ /^--([^=]+)=(.*)$/s ? ($1, $2) : (substr($arg, 2), undef);
        $name =~ tr/-/_/;
        if (!defined $value) {
            if ($flags && $flags->{$name}) {
                $value = 'true';
            } else {
                die "$prog: option --$name needs a value\n" unless @args;
                $value = shift @args;
            }
        }
        push @order, $name unless exists $opts{$name};
        $opts{$name} = $value;
    }
    my ($job_var, $first, $last);
    if (@args && $args[0] =~ /^([A-Za-z_]\w*)=(-?\d+)(?::(-?\d+))?$/a) {
        ($job_var, $first, $last) = ($1, $2, defined $3 ? $3 : $2);
        shift @args;
        die "$prog: bad job range $job_var=$first:$last (indices have at most 9 digits)\n"
            if "$first:$last" =~ /\d{10}/;
        die "$prog: bad job range $job_var=$first:$last (indices start at 1 and must not decrease)\n"
            if $first < 1 || $last < $first;
    } elsif (@args && $args[0] =~ /^[A-Za-z_]\w*=(.*)$/as && looks_like_range($1)) {
        die "$prog: cannot parse the job range " . single_quote($args[0])
            . " (expected NAME=FIRST:LAST with whole numbers, e.g. JOB=1:4)\n";
    }
    die "$prog: missing LOGFILE and COMMAND\n" unless @args >= 2;
    my $log = shift @args;
    die "$prog: the log file name is empty\n" unless length $log;
    if (defined $job_var && $last > $first && index($log, $job_var) < 0) {
        die "$prog: $job_var=$first:$last runs several jobs but the log file " . single_quote($log)
            . " has no $job_var in it\n";
    }
    return {
        opts => \%opts, opt_order => \@order, job_var => $job_var,
        first => defined $first ? $first : 1, last => defined $last ? $last : 1,
        log => $log, words => \@args,
    };
}

# A first word NAME=VALUE meant as a job range but malformed (JOB=, JOB=1:, JOB=1-4, JOB=a:b,
# JOB=1:$n with n unset), rather than a log file that happens to hold "=": no "/" in VALUE, and a
# ":" in it or nothing but digits, signs, dots, commas and spaces.
sub looks_like_range {
    my ($value) = @_;
    return 0 if $value =~ m{/};
    return $value =~ /:/ || $value =~ /^[-+\d.,\s]*$/;
}

my %RESERVED = map { $_ => 1 } qw(case coproc do done elif else esac fi for function if in select then
    time until while);

# The bash command line that runs exactly these words: each one quoted (see the header).
sub command_line {
    my @words = @_;
    my @quoted = map { quote($_) } @words;
    # As the first word, a reserved word ("time", "if") or NAME=VALUE would be bash syntax: quote it.
    $quoted[0] = single_quote($words[0]) if @words && ($RESERVED{ $words[0] } || $words[0] =~ /=/);
    return join ' ', @quoted;
}

# Quote any string for bash, so that bash reads it back as exactly this one word: left bare when it
# holds only characters that are never special to bash, else in single quotes (' as '\'').
# ("=" only counts in the first word of a command, which command_line quotes.)
sub quote {
    my ($w) = @_;
    return $w if length($w) && $w =~ m{^[A-Za-z0-9_@%+=:,./-]+$} && $w !~ /^%/;
    return single_quote($w);
}

sub single_quote {
    (my $q = shift) =~ s/'/'\\''/g;
    return "'$q'";
}

# When a command fails and some word looks like shell syntax, say that it was passed as a word.
sub shell_syntax_hint {
    my ($prog, @words) = @_;
    my $syntax = grep { /^(?:\||\|\||&&|;|&|\|&|[0-9]?>{1,2}|<|[0-9]?>&[0-9]|&>)$/ } @words;
    $syntax ||= @words == 1 && $words[0] =~ /\s/;
    return '' unless $syntax;
    return "$prog: note: each word of the command reaches it as one argument, not as shell syntax; "
        . "for a pipe, redirection or list, give a shell: bash -o pipefail -c '...' (docs/cluster.md)\n";
}

sub substitute {
    my ($text, $var, $index) = @_;
    return $text unless defined $var;
    $text =~ s/\Q$var\E/$index/g;
    return $text;
}

sub positive_int {
    my ($prog, $name, $value, $min) = @_;
    die "$prog: --${\ dashed($name)} must be an integer >= $min, not '$value'\n"
        unless $value =~ /^\d+$/ && $value >= $min;
    return $value + 0;
}

sub dashed { (my $n = shift) =~ tr/_/-/; return $n; }

sub number_of_cores {
    my $n = `nproc 2>/dev/null`;
    return ($n && $n =~ /^(\d+)/ && $1 > 0) ? $1 : 1;
}

package main;

use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX qw(WNOHANG setpgid);

my $PROG = 'run.pl';
my %IGNORED = map { $_ => 1 } qw(mem gpu time name config);

sub run_pl_main {
    my @argv = @_;
    my $job = eval { TfgplJobArgs::parse($PROG, \@argv, {}) };
    if (!$job) {
        print STDERR $@, "usage: $PROG [options] [JOB=1:N] LOGFILE COMMAND...\n";
        return 1;
    }
    my $max_jobs = TfgplJobArgs::number_of_cores();
    my $threads = 1;
    for my $name (@{ $job->{opt_order} }) {
        my $value = $job->{opts}{$name};
        my $ok = eval {
            if ($name eq 'max_jobs_run') {
                $max_jobs = TfgplJobArgs::positive_int($PROG, $name, $value, 1);
            } elsif ($name eq 'num_threads') {
                $threads = TfgplJobArgs::positive_int($PROG, $name, $value, 1);
            } elsif ($name eq 'gpu') {
                TfgplJobArgs::positive_int($PROG, $name, $value, 0);
            } elsif (!$IGNORED{$name}) {
                die "$PROG: unknown option --" . TfgplJobArgs::dashed($name)
                    . " (known: --max-jobs-run --num-threads --mem --gpu --time --name --config)\n";
            }
            1;
        };
        if (!$ok) { print STDERR $@; return 1; }
    }
    my @indices = ($job->{first} .. $job->{last});
    my %log_of = map { $_ => TfgplJobArgs::substitute($job->{log}, $job->{job_var}, $_) } @indices;
    for my $i (@indices) {
        my $dir = dirname($log_of{$i});
        eval { make_path($dir) unless -d $dir; 1 }
            or do { print STDERR "$PROG: cannot create the log folder $dir: $@"; return 1; };
    }

    my (%running, %code);
    my @todo = @indices;
    my $stop_signal;
    my $stop = sub {
        # Stop every running job (its whole process group); the loop below then waits for them.
        $stop_signal ||= shift;
        kill 'TERM', map { -$_ } keys %running;
        @todo = ();
    };
    local $SIG{INT} = $stop;
    local $SIG{TERM} = $stop;
    local $SIG{HUP} = $stop;
    while (@todo || %running) {
        while (@todo && keys(%running) < $max_jobs) {
            my $i = shift @todo;
            my $cmd = TfgplJobArgs::command_line(
                map { TfgplJobArgs::substitute($_, $job->{job_var}, $i) } @{ $job->{words} });
            my $pid = start_job($cmd, $log_of{$i}, $threads);
            $running{$pid} = $i;
        }
        my $pid = waitpid(-1, 0);
        next if $pid <= 0;
        my $i = delete $running{$pid};
        next unless defined $i;
        $code{$i} = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
    }
    if ($stop_signal) {
        my $dir = dirname($log_of{ $indices[0] });
        print STDERR "$PROG: stopped by SIG$stop_signal; logs are in $dir\n";
        return 1;
    }
    my @failed = grep { $code{$_} } @indices;
    return 0 unless @failed;
    print STDERR TfgplJobArgs::shell_syntax_hint($PROG, @{ $job->{words} });
    printf STDERR "%s: %d / %d failed, log is in %s\n", $PROG, scalar(@failed), scalar(@indices),
        $log_of{ $failed[0] };
    return 1;
}

# Fork one job: the child leads its own process group (so the whole job can be stopped), writes
# the log header, runs the command under bash and writes the footer. Returns the child's pid.
sub start_job {
    my ($cmd, $log, $threads) = @_;
    my $pid = fork;
    die "$PROG: fork failed: $!\n" unless defined $pid;
    if ($pid) {
        setpgid($pid, $pid);    # also done by the child: whichever runs first
        return $pid;
    }
    setpgid(0, 0);
    my $stop = 0;
    $SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { $stop = 1 };    # the job itself gets the signal too
    my $code = eval { run_one($cmd, $log, $threads) };
    if (!defined $code) {
        print STDERR "$PROG: $@";
        $code = 1;
    }
    POSIX::_exit($code > 255 ? 255 : $code);
}

sub run_one {
    my ($cmd, $log, $threads) = @_;
    open(my $fh, '>', $log) or die "cannot write the log file $log: $!\n";
    (my $shown = $cmd) =~ s/\n/\n# /g;
    print $fh "# $shown\n# Started at " . localtime() . "\n";
    close $fh;
    my $start = time;
    my $pid = fork;
    die "fork failed: $!\n" unless defined $pid;
    if (!$pid) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        open(STDOUT, '>>', $log) or POSIX::_exit(127);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
        exec('bash', '-o', 'pipefail', '-c', $cmd) or POSIX::_exit(127);
    }
    my $got;
    do { $got = waitpid($pid, 0) } until $got == $pid;
    my $code = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
    open($fh, '>>', $log) or die "cannot append to the log file $log: $!\n";
    printf $fh "# Accounting: time=%d threads=%d\n", time - $start, $threads;
    print $fh "# Ended (code $code) at " . localtime() . "\n";
    close $fh;
    return $code;
}

exit(run_pl_main(@ARGV)) unless caller;
1;
