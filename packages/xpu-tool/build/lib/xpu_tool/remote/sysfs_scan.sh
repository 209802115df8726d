# Scan the Intel display-class PCI devices, their DRM nodes and the kernel command line.
# POSIX sh; runs under bash, dash and busybox. $1 is a sysroot prefix ('' on a real machine).
# One "key value" line per fact; "@dev ADDR" starts a device block.
R="$1"
for d in "$R"/sys/bus/pci/devices/*; do
  [ -r "$d/vendor" ] || continue
  [ "$(cat "$d/vendor")" = 0x8086 ] || continue
  class=$(cat "$d/class" 2>/dev/null)
  case "$class" in 0x03*) ;; *) continue ;; esac
  echo "@dev ${d##*/}"
  echo "class $class"
  for f in device subsystem_vendor subsystem_device revision boot_vga driver_override sriov_totalvfs sriov_numvfs; do
    [ -r "$d/$f" ] && echo "$f $(cat "$d/$f" 2>/dev/null)"
  done
  for l in driver iommu_group physfn; do
    [ -L "$d/$l" ] && t=$(readlink "$d/$l") && echo "$l ${t##*/}"
  done
  [ -r "$d/resource" ] && while read -r start end flags; do echo "resource $start $end $flags"; done < "$d/resource"
  for r in "$d"/resource*_resize; do [ -r "$r" ] && echo "resize ${r##*/} $(cat "$r")"; done
  for n in "$d"/drm/card* "$d"/drm/renderD*; do [ -e "$n" ] && echo "drm ${n##*/}"; done
done
echo "@cmdline $(cat "$R"/proc/cmdline 2>/dev/null)"
echo "@kernel $(cat "$R"/proc/sys/kernel/osrelease 2>/dev/null)"
[ -d "$R"/sys/kernel/iommu_groups ] && echo "@iommu_groups $(ls "$R"/sys/kernel/iommu_groups | wc -l)"
for n in "$R"/dev/dri/renderD* "$R"/dev/dri/card*; do
  [ -e "$n" ] || continue
  perms=$(ls -ldn "$n" | cut -d' ' -f1)
  access=no
  [ -r "$n" ] && [ -w "$n" ] && access=yes
  echo "@node ${n##*/}|$(stat -c '%u|%g|%U|%G|%a' "$n")|$perms|$access"
done
