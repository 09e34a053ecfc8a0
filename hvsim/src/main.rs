// SPDX-License-Identifier: GPL-2.0
//! The `hvsim` command line.

fn main() {
    eprintln!("hvsim: not wired up yet");
    std::process::exit(2);
}
