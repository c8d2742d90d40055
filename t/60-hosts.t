# The four-host layout of the original design, built with network
# namespaces: a Kafka host, a web host (httpd and the monitor) and two
# worker hosts, each with its own address on a private bridge this test
# makes. A job succeeds; then one worker host's link is cut mid-job and the
# job still completes. Needs root (ip netns): skipped otherwise when run by
# hand, a failure under scripts/check.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use TilerTest;

TilerTest::need($> == 0, 'root, to make network namespaces (ip netns)');
TilerTest::need(-x '/usr/sbin/ip' || -x '/sbin/ip', 'ip (iproute2)');
TilerTest::need(system('ip netns add tlr-probe >/dev/null 2>&1') == 0, 'network namespaces (ip netns add failed)');
system('ip netns del tlr-probe');

my $net = '10.213.77';                    # on our own bridge only
my %host = (kafka => 10, web => 20, w1 => 31, w2 => 32);
my $tag = $$ % 10000;
my %ns = map { $_ => "tlr$tag-$_" } keys %host;
my $sw = "tlr$tag-sw";
my @created;

sub sh { my ($cmd) = @_; system($cmd) == 0 or die "failed: $cmd\n"; }
sub cleanup {
    system("ip link del tlr$tag-root >/dev/null 2>&1");
    system("ip netns del $_ >/dev/null 2>&1") for reverse @created;
}
END { cleanup() }

# A switch namespace with a bridge; every host (and this test, from the
# root namespace, as the client) gets a veth into it.
sh("ip netns add $sw"); push @created, $sw;
sh("ip netns exec $sw ip link add br0 type bridge");
sh("ip netns exec $sw ip link set br0 up");
for my $h (sort keys %host) {
    sh("ip netns add $ns{$h}"); push @created, $ns{$h};
    sh("ip link add tlr$tag-$h type veth peer name eth0 netns $ns{$h}");
    sh("ip link set tlr$tag-$h netns $sw");
    sh("ip netns exec $sw ip link set tlr$tag-$h master br0 up");
    sh("ip netns exec $ns{$h} ip addr add $net.$host{$h}/24 dev eth0");
    sh("ip netns exec $ns{$h} ip link set eth0 up");
    sh("ip netns exec $ns{$h} ip link set lo up");
}
sh("ip link add tlr$tag-root type veth peer name tlr$tag-up netns $sw");
sh("ip netns exec $sw ip link set tlr$tag-up master br0 up");
sh("ip addr add $net.1/24 dev tlr$tag-root");
sh("ip link set tlr$tag-root up");

my @in = map { ['ip', 'netns', 'exec', $ns{$_}] } qw(web w1 w2);
my $t = TilerTest->new(name => 'hosts', brokers => "$net.$host{kafka}:9092", http_host => "$net.$host{web}",
    http_port => 8080, exec_prefix => { httpd => $in[0], monitor => $in[0], worker1 => $in[1], worker2 => $in[2] },
    allow_log => [qr/kafka .*(Connect to|Disconnected|brokers are down|timed out|Failed to)/]);

# The Kafka host runs its own broker.
my $kdir = $t->dir . '/kafka-host';
sh("ip netns exec $ns{kafka} env TILER_KAFKA_HOST=$net.$host{kafka} TILER_KAFKA_PORT=9092 TILER_RUN_DIR=$kdir "
   . "$TilerTest::TOP/scripts/kafka start >/dev/null 2>&1");
END { system("ip netns exec $ns{kafka} env TILER_KAFKA_HOST=$net.$host{kafka} TILER_KAFKA_PORT=9092 TILER_RUN_DIR=$kdir "
             . "$TilerTest::TOP/scripts/kafka kill >/dev/null 2>&1") if $kdir }
ok($t->kafka_ready, "the Kafka host answers on $net.$host{kafka}:9092");
$t->start_all(workers => 2);

my $img = $t->make_image('h.jpg', 3000, 2000, 'jpeg', 0, 71);
my $ops = 'grayscale,blur:3';
sub check_job {
    my ($name, $id, $in, $chain) = @_;
    my ($s) = $t->wait_job($id, 120);
    is($s->{state}, 'done', "$name: done");
    is($s->{tiles_done}, $s->{tiles_total}, "$name: every tile counted once");
    my ($msg, $same) = $t->matches_local($id, $in, $chain);
    ok($same, "$name: identical to local mode ($msg)");
}

my ($r, $j) = $t->submit($img, $ops);
is($r->{status}, 202, 'job accepted by the web host');
check_job('across four hosts', $j->{id}, $img, $ops);
my $w = $t->wait_workers_alive(2, 30);
my @alive = grep { $_->{state} eq 'alive' } @{ $w->{workers} || [] };
is(scalar(@alive), 2, 'the monitor on the web host hears both worker hosts');

# Cut worker host 1's link mid-job: its partitions move to worker host 2.
# The job must be in the middle when the link goes, however fast the
# workers are (session 15's CI saw this job done before the 202 came, so
# before the first poll). So the upload goes from a child, and the job is
# watched from its first rows (it is listed from then on); worker host 2 is
# paused (SIGSTOP) until worker host 1 has sent a tile back, so that its
# share of the tasks is still to do when the link is cut, and then goes on.
# The pause is far shorter than the group's session timeout (6 s): worker
# host 2 keeps its partitions.
my $big = $t->make_image('big.jpg', 6000, 4000, 'jpeg', 0, 72);
my $heavy = 'grayscale,blur:40';
my $w2 = $t->{pids}{worker2};
END { kill 'CONT', $w2 if $w2 }   # whatever stops the test before it goes on
my %before = map { $_->{id} => 1 } @{ ($t->request('GET', '/tiler/api/jobs'))[1]{jobs} // [] };
ok($w2 && kill('STOP', $w2), 'worker host 2 paused');
my $uploader = fork // die "fork: $!";
if (!$uploader) {
    local $t->{http} = HTTP::Tiny->new(timeout => 120, keep_alive => 0);
    my ($ur) = $t->submit($big, $heavy);
    POSIX::_exit($ur->{status} == 202 ? 0 : 1);
}
my ($s, $deadline) = (undef, time + 60);
while (time < $deadline) {
    my (undef, $list) = $t->request('GET', '/tiler/api/jobs');
    ($s) = grep { !$before{$_->{id}} } @{ $list->{jobs} // [] };
    last if $s && $s->{tiles_done} >= 1;
    sleep 0.02;
}
sh("ip netns exec $sw ip link set tlr$tag-w1 down");
(undef, $s) = $t->request('GET', "/tiler/api/jobs/$s->{id}") if $s;
kill 'CONT', $w2;
ok($s && $s->{tiles_done} >= 1 && $s->{tiles_done} < $s->{tiles_total},
   'link cut mid-job (' . ($s ? "$s->{tiles_done}/$s->{tiles_total}" : 'no job seen') . ')');
waitpid($uploader, 0);
is($?, 0, 'the upload was accepted (202)');
$j = { id => $s ? $s->{id} : '' };
check_job('with worker host 1 cut off', $j->{id}, $big, $heavy);
sh("ip netns exec $sw ip link set tlr$tag-w1 up");

$t->finish;
done_testing;
