// SPDX-License-Identifier: GPL-2.0
//! KUnit runs of the decisions this module takes on what a hostile host does, as compiled into
//! the module with its own limits: pages a GPADL creation left with the host are leaked, one
//! run of a channel's drain takes at most its budget of packets however fast the host
//! publishes, an offer reusing a live relid is refused before it changes where the relid's
//! rescind goes.

use kernel::prelude::*;

#[kunit_tests(rhv_vmbus_hostile)]
mod tests {
    use crate::channel::{DRAIN_BUDGET, DRAIN_ROUNDS};
    use crate::proto::drain::{drain, DrainTarget, Next};
    use crate::proto::gpadl::{
        creation_outcome, pages_after_creation, pages_after_teardown, PagesFate, TeardownOutcome,
    };
    use crate::proto::relids::{Refusal, RelidRoutes, Route};
    use crate::proto::vmbus::STATUS_SUCCESS;
    use kernel::prelude::*;

    #[test]
    fn unanswered_gpadl_pages_are_never_freed() {
        // GPADL_HEADER went out, then the wait timed out, was interrupted or rescinded.
        assert_eq!(
            pages_after_creation(creation_outcome(true, None)),
            PagesFate::Leak
        );
        assert_eq!(
            pages_after_creation(creation_outcome(true, Some(5))),
            PagesFate::Free
        );
        assert_eq!(
            pages_after_creation(creation_outcome(false, None)),
            PagesFate::Free
        );
        assert_eq!(
            pages_after_creation(creation_outcome(true, Some(STATUS_SUCCESS))),
            PagesFate::TearDown
        );
    }

    #[test]
    fn misaddressed_or_malformed_answers_are_not_taken() {
        use crate::proto::answers::{answers, Expected};
        use crate::proto::vmbus::{MessageHeader, MessageType, OpenResult};
        use zerocopy::{FromZeros, IntoBytes};
        let open = Expected {
            ty: MessageType::OpenChannelResult,
            key: Some(9),
            relid: Some(9),
        };
        let mut r = OpenResult::new_zeroed();
        r.header = MessageHeader::new(MessageType::OpenChannelResult);
        r.child_relid = 9;
        r.openid = 9;
        assert!(answers(&open, MessageType::OpenChannelResult, r.as_bytes()));
        r.openid = 0x1009;
        assert!(!answers(
            &open,
            MessageType::OpenChannelResult,
            r.as_bytes()
        ));
        let version = Expected {
            ty: MessageType::VersionResponse,
            key: None,
            relid: None,
        };
        let header = MessageHeader::new(MessageType::VersionResponse);
        assert!(!answers(
            &version,
            MessageType::VersionResponse,
            header.as_bytes()
        ));
    }

    #[test]
    fn a_teardown_cut_short_by_a_rescind_never_frees_the_pages() {
        // GPADL_TEARDOWN went out, then the channel's rescind ended the wait (or it timed
        // out): the host may still hold the GPADL.
        assert_eq!(
            pages_after_teardown(TeardownOutcome::Unconfirmed),
            PagesFate::Leak
        );
        assert_eq!(
            pages_after_teardown(TeardownOutcome::Confirmed),
            PagesFate::Free
        );
        assert_eq!(
            pages_after_teardown(TeardownOutcome::NotNeeded),
            PagesFate::Free
        );
    }

    /// A host → guest ring whose host publishes a packet every time the guest reads one (up
    /// to `stop_after`, so that a drain without a budget ends too, having taken them all).
    struct RunawayRing {
        handled: u32,
        stop_after: u32,
        finished: u32,
        masked: bool,
    }

    impl DrainTarget for RunawayRing {
        fn next(&mut self) -> Next {
            if self.handled == self.stop_after {
                return Next::Empty;
            }
            self.handled += 1;
            Next::Handled
        }
        fn finish(&mut self) -> bool {
            self.finished += 1;
            true
        }
        fn unmask_and_look(&mut self) -> Option<bool> {
            self.masked = false;
            Some(self.handled < self.stop_after)
        }
        fn mask(&mut self) {
            self.masked = true;
        }
    }

    #[test]
    fn a_drain_takes_one_budget_then_yields() {
        let mut ring = RunawayRing {
            handled: 0,
            stop_after: 100 * DRAIN_BUDGET,
            finished: 0,
            masked: true,
        };
        // More remain: the work requeues itself, the ring's interrupt still masked.
        assert!(drain(&mut ring, DRAIN_ROUNDS, DRAIN_BUDGET));
        assert_eq!(ring.handled, DRAIN_BUDGET);
        assert!(ring.masked);
        // What was read is published to the host before yielding.
        assert_eq!(ring.finished, 1);
        assert!(drain(&mut ring, DRAIN_ROUNDS, DRAIN_BUDGET));
        assert_eq!(ring.handled, 2 * DRAIN_BUDGET);
    }

    #[test]
    fn a_rejected_offer_reusing_a_primarys_relid_leaves_its_rescind_alone() -> Result {
        let mut routes = KBox::new(RelidRoutes::new(), GFP_KERNEL)?;
        assert_eq!(routes.offer(3, false), Ok(Route::Devices));
        // A sub-channel offer with the primary's relid: refused, routes unchanged.
        assert_eq!(routes.offer(3, true), Err(Refusal::RelidInUse(3)));
        // The primary's rescind goes to the device worker, once.
        assert_eq!(routes.rescind(3), Ok(Route::Devices));
        assert_eq!(routes.rescind(3), Err(Refusal::NotOffered(3)));
        // A flood of offers for one relid queues one of them.
        routes.release(3);
        assert_eq!(routes.offer(3, true), Ok(Route::Subchannels));
        for _ in 0..10_000 {
            assert_eq!(routes.offer(3, false), Err(Refusal::RelidInUse(3)));
        }
        assert_eq!(routes.rescind(3), Ok(Route::Subchannels));
        Ok(())
    }
}
