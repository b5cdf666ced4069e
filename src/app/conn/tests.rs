//! The gate and the idle close, on loopback sockets and in-memory pipes.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn slot() -> OwnedSemaphorePermit {
    Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_quiet_connection_is_closed_after_its_idle_time_and_traffic_keeps_it_open() {
    let (server, mut client) = tokio::io::duplex(64);
    let idle = Duration::from_secs(60);
    let mut conn = Admitted::new(server, slot(), idle);
    let started = Instant::now();
    // Traffic every 40 s (less than idle) keeps it open well past one idle time.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(40)).await;
        client.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        conn.read_exact(&mut b).await.unwrap();
    }
    assert_eq!(started.elapsed(), Duration::from_secs(120));
    let quiet = Instant::now();
    let mut b = [0u8; 1];
    let err = conn.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(quiet.elapsed(), idle);
}

#[tokio::test]
async fn over_the_limit_an_http_connection_is_answered_503_and_its_slot_comes_back() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gate = Gate::new(
        "test",
        1,
        Duration::from_secs(60),
        Refusal::Busy { tls: None },
    );
    let stop = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(accept_loop(listener, gate, stop.clone(), move |c, _| {
        let _ = tx.send(c);
    }));
    let _first = TcpStream::connect(addr).await.unwrap();
    let held = rx.recv().await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let bounded = Duration::from_secs(10);
    tokio::time::timeout(bounded, second.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    // Its slot is free once the admitted connection is dropped.
    drop(held);
    let _third = TcpStream::connect(addr).await.unwrap();
    tokio::time::timeout(bounded, rx.recv())
        .await
        .unwrap()
        .unwrap();
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn over_the_limit_a_grpc_call_is_answered_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gate = Gate::new(
        "test",
        1,
        Duration::from_secs(60),
        Refusal::Unavailable { tls: None },
    );
    let stop = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(accept_loop(listener, gate, stop.clone(), move |c, _| {
        let _ = tx.send(c);
    }));
    let _first = TcpStream::connect(addr).await.unwrap();
    let _held = rx.recv().await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let status = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("too many connections"),
        "{status:?}"
    );
    stop.cancel();
    task.await.unwrap();
}
