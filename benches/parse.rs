//! Micro benchmark of the line parser on typical script lines.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn parse_lines(c: &mut Criterion) {
    let lines: [&[u8]; 4] = [
        b"write /var/www/html/index.html 'hello'",
        b"command \"yum install httpd -y\"",
        b"-upload -<<EOF /etc/motd",
        b"echo \"a\\tb\\x41\\101\" ~ 'x y' | tr a-z A-Z",
    ];
    c.bench_function("parse_line x4", |b| {
        b.iter(|| {
            for line in lines {
                let _ = black_box(rfish::parse::parse_line(black_box(line)));
            }
        })
    });
}

criterion_group!(benches, parse_lines);
criterion_main!(benches);
