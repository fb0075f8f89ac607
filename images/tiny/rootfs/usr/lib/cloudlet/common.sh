# Shared helpers of the tiny AMI's boot scripts.
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH

# Boot progress on the serial console (what GetConsoleOutput shows), with seconds since kernel start.
log() { echo "cloudlet-init: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }
