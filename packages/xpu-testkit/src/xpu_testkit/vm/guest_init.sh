#!/bin/busybox sh
# /init of the xpu test guest: a busybox system offering the two console protocols xpu-testkit
# speaks: a NixOS-style backdoor root shell (bash) on the virtio console /dev/hvc0, and a login
# on the serial console ttyS0. `xpu.mode=panic|noshell` on the kernel command line simulates faults.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run /root /var/log
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
while read -r module; do insmod "/lib/modules/$module" 2>/dev/null; done < /etc/modules-order
hostname xpu-guest
ip link set lo up
ip link set eth0 up 2>/dev/null && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
echo "xpu-guest: booted $(uname -r)"

case "$(cat /proc/cmdline)" in
  *xpu.mode=panic*) echo "xpu-guest: panicking on request"; echo c > /proc/sysrq-trigger ;;
  *xpu.mode=noshell*) echo "xpu-guest: offering no shell"; while :; do sleep 3600; done ;;
esac

httpd -p 8080 -h /www

# The backdoor, as nixpkgs' test-instrumentation.nix starts it: commands on hvc0, raw, no echo.
(
  while [ ! -e /dev/hvc0 ]; do sleep 0.1; done
  exec < /dev/hvc0 > /dev/hvc0 2> /dev/ttyS0
  stty -F /dev/hvc0 raw -echo
  echo "Spawning backdoor root shell..."
  cd /root || echo "no /root: the backdoor shell starts in $PWD" >&2
  PS1='' exec /bin/bash --norc /dev/hvc0
) &

# A login on the serial console; respawned after logout.
while :; do
  getty -L 115200 ttyS0 vt100
done
