// SPDX-License-Identifier: GPL-2.0
//! The patched QEMU's command line: a `pc` machine under TCG whose RAM is hvsim's shared file,
//! with the `hvsim` link object, the VMBus SSDT, a direct kernel boot and the serial console.

use std::path::{Path, PathBuf};

/// Port of the hypercall trap (QEMU's `-object hvsim,port=`): `out 0x5a, al`.
pub const HYPERCALL_PORT: u8 = 0x5a;

/// Everything the command line is built from.
#[derive(Clone, Debug)]
pub struct QemuCommand {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub append: String,
    pub cpus: u32,
    pub memory_mib: u64,
    /// hvsim's RAM file (`memory-backend-file,mem-path=`).
    pub ram: PathBuf,
    pub socket: PathBuf,
    pub ssdt: PathBuf,
    /// Guest serial console; `None` for QEMU's stdout.
    pub serial: Option<PathBuf>,
    /// Where SeaBIOS and the option ROMs are (`-L`, searched in order).
    pub firmware_dirs: Vec<PathBuf>,
    pub extra: Vec<String>,
}

/// QEMU option values are comma-separated: a comma inside a value is written twice.
fn opt_value(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

impl QemuCommand {
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        push(&[
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ]);
        push(&[
            "-accel",
            "tcg",
            "-machine",
            "pc,memory-backend=hvsim-ram",
            "-cpu",
            "qemu64,hypervisor=on",
        ]);
        push(&[
            "-smp",
            &self.cpus.to_string(),
            "-m",
            &format!("{}M", self.memory_mib),
        ]);
        push(&[
            "-object",
            &format!(
                "memory-backend-file,id=hvsim-ram,size={}M,mem-path={},share=on",
                self.memory_mib,
                opt_value(&self.ram)
            ),
        ]);
        push(&[
            "-object",
            &format!(
                "hvsim,id=hvsim,socket={},port={}",
                opt_value(&self.socket),
                HYPERCALL_PORT
            ),
        ]);
        push(&["-acpitable", &format!("file={}", opt_value(&self.ssdt))]);
        let chardev = match &self.serial {
            Some(p) => format!("file,id=hvsim-serial,path={}", opt_value(p)),
            None => "stdio,id=hvsim-serial,signal=off".to_string(),
        };
        push(&["-chardev", &chardev, "-serial", "chardev:hvsim-serial"]);
        for dir in &self.firmware_dirs {
            push(&["-L", &dir.to_string_lossy()]);
        }
        push(&["-kernel", &self.kernel.to_string_lossy()]);
        if let Some(initrd) = &self.initrd {
            push(&["-initrd", &initrd.to_string_lossy()]);
        }
        push(&["-append", &self.append]);
        a.extend(self.extra.iter().cloned());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> QemuCommand {
        QemuCommand {
            kernel: "/k/bzImage".into(),
            initrd: Some("/k/initrd".into()),
            append: "console=ttyS0 quiet".into(),
            cpus: 2,
            memory_mib: 512,
            ram: "/dev/shm/hvsim-1.ram".into(),
            socket: "/tmp/hvsim-x/qemu.sock".into(),
            ssdt: "/tmp/hvsim-x/vmbus.aml".into(),
            serial: None,
            firmware_dirs: vec!["/usr/share/seabios".into(), "/usr/share/qemu".into()],
            extra: vec!["-d".into(), "guest_errors".into()],
        }
    }

    fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn ram_link_and_tables_are_wired() {
        let a = cmd().args();
        let objects = after(&a, "-object");
        assert_eq!(
            objects[0],
            "memory-backend-file,id=hvsim-ram,size=512M,mem-path=/dev/shm/hvsim-1.ram,share=on"
        );
        assert_eq!(
            objects[1],
            "hvsim,id=hvsim,socket=/tmp/hvsim-x/qemu.sock,port=90"
        );
        assert_eq!(after(&a, "-m"), ["512M"]);
        assert_eq!(after(&a, "-machine"), ["pc,memory-backend=hvsim-ram"]);
        assert_eq!(after(&a, "-accel"), ["tcg"]);
        assert_eq!(after(&a, "-acpitable"), ["file=/tmp/hvsim-x/vmbus.aml"]);
        assert_eq!(after(&a, "-append"), ["console=ttyS0 quiet"]);
        assert_eq!(after(&a, "-L"), ["/usr/share/seabios", "/usr/share/qemu"]);
        assert_eq!(
            a[a.len() - 2..],
            ["-d", "guest_errors"],
            "extra arguments come last"
        );
    }

    #[test]
    fn serial_goes_to_a_file_or_stdout_and_commas_are_escaped() {
        let mut c = cmd();
        assert_eq!(
            after(&c.args(), "-chardev"),
            ["stdio,id=hvsim-serial,signal=off"]
        );
        c.serial = Some("/tmp/a,b.log".into());
        c.initrd = None;
        let a = c.args();
        assert_eq!(
            after(&a, "-chardev"),
            ["file,id=hvsim-serial,path=/tmp/a,,b.log"]
        );
        assert!(after(&a, "-initrd").is_empty());
    }
}
