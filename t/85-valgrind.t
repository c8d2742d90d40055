# A tiler-worker under valgrind (memcheck) processes a job; valgrind must
# report no errors and no definite leaks, in the supervisor or its worker.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TilerTest;

TilerTest::need(-x '/usr/bin/valgrind', 'valgrind');
plan skip_all => 'not with the sanitizer build' if $ENV{TILER_ASAN_PRELOAD};
my $t = TilerTest->new(name => 'valgrind');
$t->start_all(workers => 0);
my $vlog = $t->dir . '/logs/valgrind.%p.log';
$t->{exec_prefix}{worker1} = ['valgrind', '--quiet', '--trace-children=yes', '--error-exitcode=99',
    '--leak-check=full', '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite', "--log-file=$vlog"];
$t->start_worker(1);
my $img = $t->make_image('v.png', 700, 500, 'png', 1, 111);
my ($r, $j) = $t->submit($img, 'grayscale,blur:2,invert');
my ($s) = $t->wait_job($j->{id}, 240);
is($s->{state}, 'done', 'the job is done by the worker under valgrind');
my ($msg, $same) = $t->matches_local($j->{id}, $img, 'grayscale,blur:2,invert');
ok($same, "and right ($msg)");
is($t->stop_process('worker1'), 0, 'the worker under valgrind exits 0 (99 would mean valgrind found errors)');
my $report = join '', map { TilerTest::slurp($_) } glob($t->dir . '/logs/valgrind.*.log');
is($report, '', 'valgrind reports nothing') or diag(substr($report, 0, 3000));
$t->finish;
done_testing;
