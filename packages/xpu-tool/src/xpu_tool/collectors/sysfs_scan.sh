# shellcheck shell=sh # run as `sh -c SCRIPT` on the target (collectors/run.py), no shebang read
# Scan PCI devices, their DRM nodes and the kernel command line.
# POSIX sh; runs under bash, dash and busybox. $1 is a sysroot prefix ('' on a real machine).
# $2, if given, is one PCI address (DDDD:BB:DD.F): then that device (any vendor or class) and the
# other members of its IOMMU group are scanned, with what passing it to a VM needs (vfio-pci
# loaded, the locked-memory limit); without it, every Intel display-class device.
# One "key value" line per fact; "@dev ADDR" starts a device block.
R="$1"
device() {  # $1: the device's directory below /sys/bus/pci/devices
  d="$1"
  echo "@dev ${d##*/}"
  for f in vendor class device subsystem_vendor subsystem_device revision boot_vga driver_override \
           sriov_totalvfs sriov_numvfs; do
    [ -r "$d/$f" ] && echo "$f $(cat "$d/$f" 2>/dev/null)"
  done
  for l in driver iommu_group physfn; do
    [ -L "$d/$l" ] && t=$(readlink "$d/$l") && echo "$l ${t##*/}"
  done
  [ -r "$d/resource" ] && while read -r start end flags; do echo "resource $start $end $flags"; done < "$d/resource"
  for r in "$d"/resource*_resize; do [ -r "$r" ] && echo "resize ${r##*/} $(cat "$r")"; done
  for n in "$d"/drm/card* "$d"/drm/renderD*; do [ -e "$n" ] && echo "drm ${n##*/}"; done
  for c in "$d"/drm/card*/card*-*; do  # a connector (card0/card0-HDMI-A-1) with a display attached
    card=${c%/*}
    case "${c##*/}" in "${card##*/}"-*) ;; *) continue ;; esac
    [ "$(cat "$c/status" 2>/dev/null)" = connected ] && echo "output ${c##*/}"
  done
}
if [ -n "$2" ]; then
  d="$R/sys/bus/pci/devices/$2"
  if [ -r "$d/vendor" ]; then
    device "$d"
    if [ -L "$d/iommu_group" ]; then
      g=$(readlink "$d/iommu_group")
      for m in "$R/sys/kernel/iommu_groups/${g##*/}/devices"/*; do
        [ -e "$m" ] && [ "${m##*/}" != "$2" ] && device "$R/sys/bus/pci/devices/${m##*/}"
      done
    fi
  fi
  [ -e "$R/sys/bus/pci/drivers/vfio-pci" ] && echo "@vfio_pci yes" || echo "@vfio_pci no"
  # shellcheck disable=SC3045 # dash, busybox ash and bash all have ulimit -l, the sh this runs under
  echo "@memlock $(ulimit -l)"
else
  for d in "$R"/sys/bus/pci/devices/*; do
    [ -r "$d/vendor" ] || continue
    [ "$(cat "$d/vendor")" = 0x8086 ] || continue
    case "$(cat "$d/class" 2>/dev/null)" in 0x03*) device "$d" ;; esac
  done
fi
echo "@cmdline $(cat "$R"/proc/cmdline 2>/dev/null)"
echo "@kernel $(cat "$R"/proc/sys/kernel/osrelease 2>/dev/null)"
if [ -d "$R"/sys/kernel/iommu_groups ]; then
  ngroups=0
  for grp in "$R"/sys/kernel/iommu_groups/*; do
    [ -e "$grp" ] && ngroups=$((ngroups + 1))
  done
  echo "@iommu_groups $ngroups"
fi
for n in "$R"/dev/dri/renderD* "$R"/dev/dri/card*; do
  [ -e "$n" ] || continue
  # shellcheck disable=SC2012 # ls -l's mode string (an ACL's "+" included) is the fact; $n is one DRM node
  perms=$(ls -ldn "$n" | cut -d' ' -f1)
  access=no
  [ -r "$n" ] && [ -w "$n" ] && access=yes
  echo "@node ${n##*/}|$(stat -c '%u|%g|%U|%G|%a' "$n")|$perms|$access"
done
