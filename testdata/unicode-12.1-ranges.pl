#!/usr/bin/env perl
# Print the code point ranges assigned as of Unicode 12.1 (the "utf8-12.1" encoding of
# ext4's casefold feature) from Perl's copy of the Unicode Character Database, in the form
# src/fs/ext4/unicode_12_1.rs holds them: "0xSTART, 0xEND," pairs, eight per line.
# Usage: perl testdata/unicode-12.1-ranges.pl
use strict;
use warnings;
my @ranges;
my $start = -1;
for my $cp (0 .. 0x10FFFF) {
  my $in = ($cp >= 0xD800 && $cp <= 0xDFFF) ? 0 : (chr($cp) =~ /\p{In=12.1}/ ? 1 : 0);
  if ($in && $start < 0) { $start = $cp }
  elsif (!$in && $start >= 0) { push @ranges, [$start, $cp - 1]; $start = -1 }
}
push @ranges, [$start, 0x10FFFF] if $start >= 0;
my @cells = map { sprintf("(0x%X, 0x%X),", @$_) } @ranges;
while (my @line = splice(@cells, 0, 6)) { print "    ", join(" ", @line), "\n" }
