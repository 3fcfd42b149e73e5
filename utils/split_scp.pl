#!/usr/bin/env perl
# split_scp.pl: split a Kaldi list (scp, utt2spk, ... any file of lines) into N contiguous parts.
#
#   split_scp.pl [--utt2spk=FILE] in.scp out.1.scp ... out.N.scp
#   split_scp.pl [--utt2spk=FILE] [--one-based] -j N J in.scp [out.scp]
#
# The parts keep the input order and their sizes differ by at most one line. With --utt2spk the
# split is by speaker: each speaker's utterances go to one part (they must be contiguous in the
# input, as in a sorted Kaldi data dir), and the parts get as even a number of lines as whole
# speakers allow. The second form writes only part J of N (J counts from 0, or from 1 with
# --one-based, as in Kaldi) to out.scp, or to stdout.
# It is an error to ask for more parts than there are lines (or speakers). Outputs are written
# under a temporary name and renamed.
use strict;
use warnings;

my $PROG = 'split_scp.pl';

sub usage_error {
    die "$PROG: $_[0]\nusage: $PROG [--utt2spk=FILE] in.scp out.1.scp ... out.N.scp\n"
        . "   or: $PROG [--utt2spk=FILE] [--one-based] -j N J in.scp [out.scp]\n";
}

sub read_lines {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$PROG: cannot read $path: $!\n";
    my @lines = <$fh>;
    close $fh;
    for my $i (0 .. $#lines) {
        $lines[$i] .= "\n" unless $lines[$i] =~ /\n$/;
    }
    return \@lines;
}

# Cut a sequence of weights into N contiguous, non-empty groups whose sums are each as close as
# possible to an equal share. Returns the end index (exclusive) of each group.
sub balanced_cuts {
    my ($weights, $n) = @_;
    my @prefix = (0);
    push @prefix, $prefix[-1] + $_ for @$weights;
    my $count = @$weights;
    my @ends;
    my $prev = 0;
    for my $part (1 .. $n - 1) {
        my $target = $prefix[-1] * $part / $n;
        my $best = $prev + 1;
        for my $c ($prev + 1 .. $count - ($n - $part)) {
            $best = $c if abs($prefix[$c] - $target) < abs($prefix[$best] - $target);
            last if $prefix[$c] >= $target;
        }
        push @ends, $best;
        $prev = $best;
    }
    push @ends, $count;
    return \@ends;
}

sub main {
    my @args = @_;
    my ($utt2spk, $one_based, $num_jobs, $job_id);
    while (@args && $args[0] =~ /^-/) {
        my $arg = shift @args;
        if ($arg =~ /^--utt2spk=(.+)$/) { $utt2spk = $1; }
        elsif ($arg eq '--utt2spk') {
            $utt2spk = shift @args;
            usage_error('--utt2spk needs a file') unless defined $utt2spk;
        }
        elsif ($arg eq '--one-based') { $one_based = 1; }
        elsif ($arg eq '-j') {
            ($num_jobs, $job_id) = splice @args, 0, 2;
            usage_error('-j needs N and J') unless defined $job_id;
        } else { usage_error("unknown option $arg"); }
    }
    my ($in, @outs);
    if (defined $num_jobs) {
        usage_error("-j N J: N must be a positive integer, not '$num_jobs'")
            unless $num_jobs =~ /^\d+$/ && $num_jobs > 0;
        my $lo = $one_based ? 1 : 0;
        usage_error("-j $num_jobs $job_id: J must be an integer from $lo to " . ($num_jobs - 1 + $lo))
            unless $job_id =~ /^\d+$/ && $job_id >= $lo && $job_id < $num_jobs + $lo;
        usage_error('-j N J needs in.scp and at most one output') unless @args == 1 || @args == 2;
        ($in, my $out) = @args;
        @outs = (undef) x $num_jobs;
        $outs[$job_id - $lo] = defined $out ? $out : '-';
    } else {
        usage_error('--one-based only goes with -j') if $one_based;
        usage_error('need in.scp and at least one output') unless @args >= 2;
        ($in, @outs) = @args;
    }
    my $n = @outs;
    my $lines = read_lines($in);
    my @groups;    # [first line, last line + 1] of each unit that must stay together
    if (defined $utt2spk) {
        my %spk_of;
        for my $line (@{ read_lines($utt2spk) }) {
            my ($utt, $spk) = split ' ', $line;
            next unless defined $utt;
            die "$PROG: $utt2spk: line for '$utt' has no speaker\n" unless defined $spk;
            $spk_of{$utt} = $spk;
        }
        my %seen;
        for my $i (0 .. $#$lines) {
            my ($utt) = split ' ', $lines->[$i];
            die "$PROG: $in line " . ($i + 1) . " is empty\n" unless defined $utt;
            my $spk = $spk_of{$utt};
            die "$PROG: $in line " . ($i + 1) . ": utterance '$utt' is not in $utt2spk\n" unless defined $spk;
            if (@groups && $groups[-1][2] eq $spk) {
                $groups[-1][1] = $i + 1;
                next;
            }
            die "$PROG: $in line " . ($i + 1) . ": the utterances of speaker '$spk' are not contiguous "
                . "(sort the list, with speaker-prefixed keys)\n" if $seen{$spk}++;
            push @groups, [$i, $i + 1, $spk];
        }
        die "$PROG: cannot split $in into $n parts: it has only " . scalar(@groups) . " speakers\n"
            if @groups < $n;
    } else {
        die "$PROG: cannot split $in into $n parts: it has only " . scalar(@$lines) . " lines\n"
            if @$lines < $n;
        @groups = map { [$_, $_ + 1] } 0 .. $#$lines;
    }
    my @ends;
    if (defined $utt2spk) {
        @ends = @{ balanced_cuts([map { $_->[1] - $_->[0] } @groups], $n) };
    } else {
        my ($size, $extra) = (int(@groups / $n), @groups % $n);
        my $end = 0;
        @ends = map { $end += $size + ($_ < $extra ? 1 : 0) } 0 .. $n - 1;
    }
    my $start = 0;
    for my $p (0 .. $n - 1) {
        my ($first, $last) = ($groups[$start][0], $groups[ $ends[$p] - 1 ][1]);
        $start = $ends[$p];
        next unless defined $outs[$p];
        write_part($outs[$p], @{$lines}[ $first .. $last - 1 ]);
    }
    return 0;
}

sub write_part {
    my ($path, @lines) = @_;
    if ($path eq '-') {
        print @lines;
        return;
    }
    my $tmp = "$path.tmp$$";
    open(my $fh, '>', $tmp) or die "$PROG: cannot write $tmp: $!\n";
    print $fh @lines;
    close $fh or die "$PROG: cannot write $tmp: $!\n";
    rename $tmp, $path or die "$PROG: cannot rename $tmp to $path: $!\n";
}

my $code = eval { main(@ARGV) };
print STDERR $@ unless defined $code;
exit(defined $code ? $code : 1);
