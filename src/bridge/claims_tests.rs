//! Claims on every kind of request: an operator's console (or the CLI) claims what it
//! opens, renews, releases, and takes over another holder's claim explicitly.

use super::*;

async fn request_claim_event(
    events: &mut EventReceiver,
) -> (ClaimChange, CallClaim, PendingRequestView) {
    match next_event(events, |e| matches!(e, BridgeEvent::RequestClaim { .. })).await {
        BridgeEvent::RequestClaim {
            request,
            change,
            claim,
        } => (change, claim, request),
        _ => unreachable!(),
    }
}

fn ask(holder: &str, lease: Duration, claim_id: Option<&str>, takeover: bool) -> ClaimAsk {
    ClaimAsk {
        holder: holder.to_string(),
        lease,
        claim_id: claim_id.map(str::to_string),
        takeover,
    }
}

/// Answers a request with its holder's claim id and reads what the bridge wrote.
async fn request_answered(
    bridge: &BridgeHandle,
    fake: &mut FakeAppServer,
    request_id: &str,
    answer: Value,
    claim_id: Option<&str>,
) -> Value {
    let answering = {
        let (bridge, id) = (bridge.clone(), request_id.to_string());
        let claim_id = claim_id.map(str::to_string);
        tokio::spawn(async move {
            bridge
                .answer_request_claimed(&id, answer, Responder::Operator, claim_id.as_deref())
                .await
        })
    };
    let written = fake.next().await;
    assert_eq!(answering.await.unwrap().unwrap(), AnswerOutcome::Accepted);
    written
}

/// (Paused time.) Approvals, questions, permission requests and elicitations are claimed
/// like tool calls: listed and announced with their holder, every answer without the
/// claim id refused (raw, decision and typed alike), the holder's written exactly once.
#[tokio::test(start_paused = true)]
async fn every_kind_of_request_is_claimed_and_only_its_holder_answers() {
    let (bridge, mut events, mut fake, _) = start_asking().await;
    let lease = Duration::from_secs(30);
    let who = Responder::Remote {
        client: "cli".to_string(),
    };
    for (request, answer) in blocking_requests() {
        let id = request["id"].clone();
        fake.send(request).await;
        let open = opened(&mut events).await;
        let claim = claimed(
            bridge
                .claim_request(&open.request_id, ask("ana@desk", lease, None, false))
                .await
                .unwrap(),
        );
        assert_eq!(claim.holder, "ana@desk");
        let (change, _, view) = request_claim_event(&mut events).await;
        assert_eq!(change, ClaimChange::Claimed, "{}", open.method);
        assert_eq!(view.claim.as_ref(), Some(&claim));
        let listed = bridge.pending_requests(None).await.unwrap();
        assert_eq!(listed[0].claim.as_ref(), Some(&claim), "{}", open.method);
        let refused = AnswerOutcome::Claimed {
            claim: claim.clone(),
        };
        let result = answer["result"].clone();
        assert_eq!(
            bridge
                .answer_request(&open.request_id, result.clone(), who.clone())
                .await
                .unwrap(),
            refused
        );
        assert_eq!(
            bridge
                .decide(
                    &open.request_id,
                    SimpleDecision::Decline,
                    false,
                    who.clone()
                )
                .await
                .unwrap(),
            refused
        );
        assert_eq!(
            bridge
                .answer_request_claimed(
                    &open.request_id,
                    result.clone(),
                    who.clone(),
                    Some("another-claim")
                )
                .await
                .unwrap(),
            refused
        );
        // Another operator is refused the claim, naming the holder.
        assert_eq!(
            bridge
                .claim_request(&open.request_id, ask("bo", lease, None, false))
                .await
                .unwrap(),
            ClaimOutcome::Held {
                claim: claim.clone()
            }
        );
        let written = request_answered(
            &bridge,
            &mut fake,
            &open.request_id,
            result.clone(),
            Some(&claim.claim_id),
        )
        .await;
        assert_eq!(written["id"], id, "{}", open.method);
        assert_eq!(written["result"], result);
        let ended = request_resolved(&mut events).await;
        assert_eq!(ended.answered_by, Some(Responder::Operator));
        assert_eq!(
            bridge
                .answer_request_claimed(
                    &open.request_id,
                    result,
                    who.clone(),
                    Some(&claim.claim_id)
                )
                .await
                .unwrap(),
            AnswerOutcome::NotFound
        );
    }
    assert_eq!(bridge.status().await.unwrap().totals.pending, 0);
}

/// (Paused time.) A takeover replaces the holder's claim with a new one and one event
/// tells both; the replaced holder's answer, renewal and release are refused; the
/// replaced lease's timer frees nothing; the new holder's answer is written once.
#[tokio::test(start_paused = true)]
async fn a_takeover_replaces_the_holder_and_tells_both() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(1), "call-1", "manual_tool"))
        .await;
    let id = requested(&mut events).await.request_id;
    let lease = Duration::from_secs(3);
    let ana = claimed(
        bridge
            .claim_request(&id, ask("ana", lease, None, false))
            .await
            .unwrap(),
    );
    assert_eq!(claim_event(&mut events).await.0, ClaimChange::Claimed);
    let bo = match bridge
        .claim_request(&id, ask("bo", Duration::from_secs(10), None, true))
        .await
        .unwrap()
    {
        ClaimOutcome::Claimed {
            claim,
            renewed,
            replaced,
            ..
        } => {
            assert!(!renewed);
            assert_eq!(replaced.as_ref(), Some(&ana));
            claim
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(bo.holder, "bo");
    assert_ne!(bo.claim_id, ana.claim_id);
    let (change, ended, view) = claim_event(&mut events).await;
    assert_eq!(change, ClaimChange::TakenOver);
    assert_eq!(ended, ana);
    assert_eq!(view.claim.as_ref(), Some(&bo));
    let refused = RespondOutcome::Claimed { claim: bo.clone() };
    assert_eq!(
        bridge
            .respond_claimed(
                &id,
                text_answer("ana's"),
                Responder::Operator,
                Some(&ana.claim_id)
            )
            .await
            .unwrap(),
        refused
    );
    assert_eq!(
        bridge
            .claim_request(&id, ask("ana", lease, Some(&ana.claim_id), false))
            .await
            .unwrap(),
        ClaimOutcome::Held { claim: bo.clone() }
    );
    assert_eq!(
        bridge.release_claim(&id, &ana.claim_id).await.unwrap(),
        ReleaseOutcome::Held { claim: bo.clone() }
    );
    // Ana's lease would have ended at 3 s: bo's claim is untouched.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(
        bridge.pending_calls(None).await.unwrap()[0].claim.as_ref(),
        Some(&bo)
    );
    let written = answer_written(&bridge, &mut fake, &id, "bo's", Some(&bo.claim_id)).await;
    assert_eq!(written["result"]["contentItems"][0]["text"], "bo's");
    // No claim event came between the takeover and the end: no expiry of either lease.
    let next = next_event(&mut events, |e| {
        matches!(
            e,
            BridgeEvent::ToolCallClaim { .. } | BridgeEvent::ToolCallResolved { .. }
        )
    })
    .await;
    assert!(
        matches!(&next, BridgeEvent::ToolCallResolved { call } if call.request_id == id),
        "{next:?}"
    );
}

/// (Paused time.) A console that dies holding a claim on an approval frees it when the
/// lease runs out (`Expired`, once); the next operator claims it and answers.
#[tokio::test(start_paused = true)]
async fn a_dead_consoles_claim_on_an_approval_runs_out() {
    let (bridge, mut events, mut fake, _) = start_asking().await;
    let (request, answer) = blocking_requests().remove(0);
    fake.send(request).await;
    let open = opened(&mut events).await;
    let lease = Duration::from_secs(30);
    let ana = claimed(
        bridge
            .claim_request(&open.request_id, ask("ana", lease, None, false))
            .await
            .unwrap(),
    );
    assert_eq!(
        request_claim_event(&mut events).await.0,
        ClaimChange::Claimed
    );
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(
        bridge.pending_requests(None).await.unwrap()[0]
            .claim
            .as_ref(),
        Some(&ana)
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    let (change, ended, view) = request_claim_event(&mut events).await;
    assert_eq!((change, ended), (ClaimChange::Expired, ana));
    assert_eq!(view.claim, None);
    let bo = claimed(
        bridge
            .claim_request(&open.request_id, ask("bo", lease, None, false))
            .await
            .unwrap(),
    );
    let written = request_answered(
        &bridge,
        &mut fake,
        &open.request_id,
        answer["result"].clone(),
        Some(&bo.claim_id),
    )
    .await;
    assert_eq!(written, answer);
}
