//! The open-file budget. Every accepted connection is a file descriptor; when the process
//! runs out, `accept` fails with EMFILE and both listeners go deaf at once. So at start the
//! soft `RLIMIT_NOFILE` is raised to the hard limit, and the two connection limits are
//! lowered, if need be, until they fit under it with a reserve for everything else.

use std::io;

/// What a rejected connection may hold at once per listener while it is answered (503) or
/// closed; beyond this, over-limit connections are closed without an answer.
pub const REFUSALS_AT_ONCE: usize = 64;

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        } else {
            // Some kernels cap the soft limit below an "unlimited" hard one; keep what is.
            tracing::debug!(error = %io::Error::last_os_error(), "cannot raise RLIMIT_NOFILE");
        }
    }
    Ok(lim.rlim_cur)
}

/// The connection limits that fit `nofile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub http: usize,
    pub grpc: usize,
}

/// Both limits as configured when they fit under `nofile` with `reserve` and the refusal
/// slots to spare; otherwise both scaled down in proportion (at least 1 each).
pub fn fit(nofile: u64, reserve: u64, http: usize, grpc: usize) -> Budget {
    let refusals = 2 * REFUSALS_AT_ONCE as u64;
    let available = nofile.saturating_sub(reserve + refusals);
    let wanted = http as u64 + grpc as u64;
    if wanted <= available {
        return Budget { http, grpc };
    }
    let scale = |n: usize| ((n as u64 * available / wanted) as usize).max(1);
    Budget {
        http: scale(http),
        grpc: scale(grpc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fit_under_the_open_file_limit() {
        let r = 2 * REFUSALS_AT_ONCE as u64;
        // (nofile, reserve, http, grpc) → budget
        let table = [
            ((65536, 256, 4096, 4096), (4096, 4096)),
            ((1024, 256, 4096, 4096), (320, 320)),
            ((1024 + r, 24, 500, 500), (500, 500)),
            ((1024 + r, 24, 900, 100), (900, 100)),
            ((1024 + r, 124, 900, 100), (810, 90)),
            ((10, 256, 4096, 4096), (1, 1)),
        ];
        for ((nofile, reserve, http, grpc), (eh, eg)) in table {
            let b = fit(nofile, reserve, http, grpc);
            assert_eq!(
                (b.http, b.grpc),
                (eh, eg),
                "{nofile} {reserve} {http} {grpc}"
            );
            if nofile > reserve + r + 2 {
                assert!((b.http + b.grpc) as u64 + reserve + r <= nofile);
            }
        }
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let soft = raise_nofile_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reads into the struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(soft, lim.rlim_cur);
        assert!(soft >= 1);
    }
}
