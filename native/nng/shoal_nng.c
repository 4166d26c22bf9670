// shoal's binding to libnng: message sockets over NNG's byte streams (ipc://, tcp://), one
// connection ("pipe") per peer, addressed by pipe id. Read native/nng/README.md first; the
// TypeScript side is src/lamellae/nng/.
//
// Wire format of a connection: messages back to back, each a 4-byte little-endian length and then
// that many bytes. Nothing else: no handshake (the transport above authenticates its peers).
//
// Threads and ownership
// - The JS thread of one Node environment (the main thread or a worker) owns a socket: it creates
//   it, sends, closes, and is the only thread that frees anything.
// - NNG's own threads run the completion callbacks (accept, dial, receive, send). They never call
//   into JavaScript: they append to the socket's pending batch (under `sock.mtx`) and wake the JS
//   thread through one napi_threadsafe_function, at most once per batch (`sock.signaled`).
// - The JS thread (call_js) swaps the pending batch out and hands it to JavaScript in one call:
//   a Uint32Array of 5-word items and an array of ArrayBuffers. Small messages are packed into
//   one ArrayBuffer per batch, each at an 8-byte-aligned offset; a message of LARGE_BYTES or more
//   has its own buffer, handed over without a copy.
// - A connection that closes is unlinked at once (no more sends reach it) and freed later by the
//   JS thread, after nng_aio_free has waited for its callbacks: a callback never frees its own aio.
// - close(), and the environment's cleanup hook (worker exit, process teardown), stop every aio
//   synchronously before anything is freed, so no callback runs after them, and the
//   threadsafe function is never called after it is finalized.
//
// Locks: `sock.mtx` guards the socket's lists, the pipe table, the pending batch and every
// `conn.closed`/`conn.paused`; `conn.cmtx` guards a connection's send buffers. A thread never
// takes `sock.mtx` while it holds `conn.cmtx`, nor the reverse, and no NNG call that can
// complete an aio synchronously is made under either.

#include <node_api.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Kinds of the items handed to JavaScript; each item is 5 u32 words: kind, pipe, x, y, z.
// The same table is in src/lamellae/nng/binding.ts.
enum {
  K_MESSAGE = 1,      // x: buffer index, y: byte offset, z: byte length
  K_CONNECTED = 2,    // x: 1 if dialed here, 0 if accepted; y: the dial request (0 if accepted)
  K_DISCONNECTED = 3, // x: NNG error code that closed it (0: closed here)
  K_DRAINED = 4,      // the pipe's send queue became empty after send() or flush() asked for it
  K_DIAL_FAILED = 5,  // pipe 0; x: dial request, y: NNG error code
  K_DIRECT = 6,       // as K_MESSAGE, for a direct message that no sink took (see "direct lanes")
};
#define ITEM_WORDS 5

#define HEADER_BYTES 4
#define READ_CHUNK (128 * 1024)     // bytes read from a connection at a time
#define LARGE_BYTES (64 * 1024)     // messages this large get their own buffer
#define KEEP_BYTES (1024 * 1024)     // idle buffers up to this size are always kept
#define MAX_SLOTS 65536             // connections open at once on one socket
#define DIRECT_BIT 0x80000000u      // in a message's length word: a direct message
#define LENGTH_MASK 0x7fffffffu

typedef struct sock sock;
typedef struct conn conn;
typedef struct listener listener;
typedef struct dialreq dialreq;
typedef struct envdata envdata;

typedef struct batch {
  uint32_t *meta;
  size_t meta_len, meta_cap; // in words
  uint8_t *packed;
  size_t packed_len, packed_cap;
  uint8_t **large;
  size_t *large_len;
  size_t large_count, large_cap;
} batch;

struct conn {
  sock *s;
  uint32_t id;
  nng_stream *stream;
  nng_aio *raio, *saio;
  // Receive state: touched only by the receive callback, or by the JS thread when it resumes a
  // paused connection (which has no receive in flight then).
  uint8_t *rbuf;
  size_t rlen;
  uint8_t *big; // a large message being read straight into its own buffer
  size_t big_len, big_have;
  bool big_direct;
  // Under s->mtx. `starting`: published, but conn_open has not yet started its first read, so
  // the JS thread must not free it even if it has closed already.
  bool closed, paused, starting;
  // Under s->mtx. `trusted`: shared for direct sends (share()), so its direct messages may go to
  // the PEs' sinks. `users`: direct senders using it now; it is not freed while any is.
  bool trusted;
  int users;
  conn *all_prev, *all_next, *pause_next, *zombie_next;
  // Under cmtx: `fill` takes new messages while `flight` is being written.
  nng_mtx *cmtx;
  uint8_t *fill, *flight;
  size_t fill_len, fill_cap, flight_len, flight_cap, flight_done;
  bool sending, want_drain;
};

struct listener {
  sock *s;
  nng_stream_listener *l;
  nng_aio *aio;
  bool sleeping; // waiting a moment after an accept error (out of files, say)
  listener *next;
};

struct dialreq {
  sock *s;
  uint32_t request;
  nng_stream_dialer *dialer;
  nng_aio *aio;
  bool done; // under s->mtx: the callback has run; the JS thread frees it
  dialreq *next;
};

struct sock {
  nng_mtx *mtx;
  napi_threadsafe_function tsfn;
  napi_ref self;     // strong while open: an open socket is never collected
  napi_ref callback; // the batch callback, for poll()
  envdata *env;
  sock *env_prev, *env_next;
  int refs;       // the JS wrapper and the threadsafe function; freed at 0 (JS thread)
  int closing;    // set once, under mtx, read by callbacks with __atomic_load_n
  bool destroyed; // JS thread only
  bool released;  // JS thread only: close() has run
  bool draining;  // JS thread only: drain() is running (poll() from a callback is a no-op)
  bool signaled;  // under mtx: a call of the threadsafe function is pending
  // Direct lanes (under mtx): `shared`: this is the process's socket for direct sends.
  // `io_queued`: messages in `pending`; `delivering`: JavaScript is handling a batch with messages.
  // A direct message goes to a sink only while both say the JS side has handled every message.
  bool shared, delivering;
  size_t io_queued;
  int direct_users; // under g_mtx: direct senders inside this socket now
  size_t max_msg, send_hwm, recv_hwm;
  // Idle buffers up to these sizes are kept for the next message: a fresh large buffer costs a
  // page fault per 4 KiB page, which cut 16 MiB streaming from 2.5 to 0.8 GB/s on a VM.
  size_t keep_send, keep_batch;
  size_t pending_bytes; // under mtx: message bytes in `pending`
  batch *pending;       // under mtx
  batch *spare;         // JS thread only
  conn **slots;         // under mtx: pipe id = (generation << 16) | slot
  uint16_t *gens;
  size_t nslots;
  conn *all;     // under mtx: every connection not yet freed
  conn *paused;  // under mtx
  conn *zombies; // under mtx: closed, to be freed by the JS thread
  listener *listeners;
  dialreq *dials; // under mtx
};

typedef struct sink sink;

struct envdata {
  sock *open;  // the open sockets of this environment
  sink *sinks; // the open sinks of this environment
};

// ---------------------------------------------------------------------------------------------
// direct lanes
//
// A PE of a multi-process job may send a small frame to a PE of another process straight through
// the connection its process's IO worker owns (direct_send, from the PE's own thread), and that
// frame may reach the destination PE straight from the receiving callback (its sink), instead of
// through both IO workers: two thread hand-offs fewer each way. The TypeScript side is
// src/lamellae/nng/direct.ts; what follows keeps every PE's frames in order across both lanes.
//
// - A direct message is one whole stream entry (io/wire.ts: a FRAME with no large payloads), its
//   length word marked with DIRECT_BIT, so the receiver can take it out of a connection whose
//   stream of entries is cut anywhere. Any thread may queue one: the connection's send queue is
//   under its cmtx, and conn.users keeps it from being freed meanwhile.
// - Send order: a PE sends directly only when its IO worker has handed to the connections every
//   record the PE gave it before (g_handed, which the IO worker sets after each flush, against the
//   count the PE passes); otherwise the frame takes the IO worker's lane behind the others.
// - The IO worker sends its own answers (far operations it served) on the direct lane too, and a
//   frame whose requests the receiving IO worker answers (SERVABLE) never goes to a sink: the PE
//   is not woken for it.
// - Receive order: the receiving callback gives a direct message to the destination PE's sink only
//   when (1) the IO worker's JavaScript has handled every message that arrived before it on its
//   socket (io_queued, delivering), and (2) the PE is committed to sleep: its ASLEEP word is 2,
//   which the PE stores (by compare-exchange from 1) only after it found its ring empty, and which
//   the IO worker clears after every batch it handles (so a frame it put in the ring meanwhile
//   turns that compare-exchange, or this test, down). So every earlier frame has been read, and the
//   PE reads its sink before its ring, so every later one comes after. Anything else goes to the
//   IO worker as a K_DIRECT item, which it handles like any entry of that stream.
// - Only pipes the IO worker shared (authenticated ones) have their direct messages looked at.
//
// Locks: g_mtx guards g_direct, g_pipes, g_handed and every socket's direct_users; it may be held
// while taking a socket's mtx, never the reverse. g_sink_mtx guards the sink table and every
// sink's queue; it may be taken under a socket's mtx, and nothing is taken under it.

#define ENTRY_BYTES 16    // a stream entry's header (io/wire.ts)
#define ENTRY_FRAME 1     // its kind FRAME
#define FRAME_HEADER_BYTES 8 // a frame's header (lamellae/frame.ts)
#define FRAME_SERVABLE 2  // its flag SERVABLE: every message is one the IO worker answers
#define SINK_ASLEEP 0     // the PE's words: 0 awake, 1 about to sleep, 2 committed to sleep
#define SINK_PENDING 1    // 1 while frames wait in the sink
#define ASLEEP_COMMITTED 2

struct sink {
  uint32_t pe;
  int32_t *flags;   // the PE's two words, in its SharedArrayBuffer
  napi_ref flags_ref;
  napi_threadsafe_function tsfn;
  envdata *env;
  sink *env_prev, *env_next;
  int refs;         // the JS wrapper and the threadsafe function (JS thread)
  bool closed;      // set on the JS thread, under g_sink_mtx
  bool signaled;    // under g_sink_mtx: a call of the threadsafe function is pending
  uint8_t *q;       // under g_sink_mtx: frames, each a u32 length, the bytes, padding to 8
  size_t q_head, q_len, q_cap;
};

static pthread_mutex_t g_mtx = PTHREAD_MUTEX_INITIALIZER;
static sock *g_direct;                  // the process's socket for direct sends (its IO worker's)
static uint32_t *g_pipes;               // by rank: the pipe of its connection, 0 while none
static size_t g_pipes_len;
static uint32_t *g_handed;              // by local PE: records the IO worker has handed on
static size_t g_handed_len;
static pthread_mutex_t g_sink_mtx = PTHREAD_MUTEX_INITIALIZER;
static sink **g_sinks;                  // by PE
static size_t g_sinks_len;
static size_t g_sinks_lo = SIZE_MAX, g_sinks_hi; // the PEs that have had a sink: [lo, hi)

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

// Sets table[index] = value, growing the table with zeros (under the table's lock).
static int table_set(uint32_t **table, size_t *len, size_t index, uint32_t value) {
  if (index >= *len) {
    size_t n = *len < 16 ? 16 : *len;
    while (n <= index) n *= 2;
    uint32_t *t = realloc(*table, n * sizeof(uint32_t));
    if (t == NULL) return NNG_ENOMEM;
    memset(t + *len, 0, (n - *len) * sizeof(uint32_t));
    *table = t;
    *len = n;
  }
  (*table)[index] = value;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// batches

static int grow(void **ptr, size_t *cap, size_t need, size_t unit, size_t min) {
  if (need <= *cap) return 0;
  size_t cap2 = *cap < min ? min : *cap;
  while (cap2 < need) cap2 *= 2;
  void *p = realloc(*ptr, cap2 * unit);
  if (p == NULL) return NNG_ENOMEM;
  *ptr = p;
  *cap = cap2;
  return 0;
}

static int batch_item(batch *b, uint32_t kind, uint32_t pipe, uint32_t x, uint32_t y, uint32_t z) {
  if (grow((void **)&b->meta, &b->meta_cap, b->meta_len + ITEM_WORDS, sizeof(uint32_t), 256) != 0) return NNG_ENOMEM;
  uint32_t *w = b->meta + b->meta_len;
  w[0] = kind;
  w[1] = pipe;
  w[2] = x;
  w[3] = y;
  w[4] = z;
  b->meta_len += ITEM_WORDS;
  return 0;
}

// `kind`: K_MESSAGE or K_DIRECT.
static int batch_small(batch *b, uint32_t kind, uint32_t pipe, const uint8_t *src, size_t len) {
  size_t at = (b->packed_len + 7) & ~(size_t)7;
  if (grow((void **)&b->packed, &b->packed_cap, at + len, 1, 64 * 1024) != 0) return NNG_ENOMEM;
  memcpy(b->packed + at, src, len);
  b->packed_len = at + len;
  return batch_item(b, kind, pipe, 0, (uint32_t)at, (uint32_t)len);
}

// Takes `buf` (malloc'd) on success only.
static int batch_large(batch *b, uint32_t kind, uint32_t pipe, uint8_t *buf, size_t len) {
  size_t cap = b->large_cap;
  if (grow((void **)&b->large, &cap, b->large_count + 1, sizeof(uint8_t *), 8) != 0) return NNG_ENOMEM;
  if (grow((void **)&b->large_len, &b->large_cap, b->large_count + 1, sizeof(size_t), 8) != 0) return NNG_ENOMEM;
  if (batch_item(b, kind, pipe, (uint32_t)(b->large_count + 1), 0, (uint32_t)len) != 0) return NNG_ENOMEM;
  b->large[b->large_count] = buf;
  b->large_len[b->large_count] = len;
  b->large_count++;
  return 0;
}

static void batch_reset(batch *b, size_t keep) {
  for (size_t i = 0; i < b->large_count; i++) free(b->large[i]); // those not handed to JS
  b->large_count = 0;
  b->meta_len = 0;
  b->packed_len = 0;
  if (b->packed_cap > keep) {
    free(b->packed);
    b->packed = NULL;
    b->packed_cap = 0;
  }
  if (b->meta_cap * sizeof(uint32_t) > KEEP_BYTES) {
    free(b->meta);
    b->meta = NULL;
    b->meta_cap = 0;
  }
}

static void batch_free(batch *b) {
  if (b == NULL) return;
  batch_reset(b, 0);
  free(b->meta);
  free(b->packed);
  free(b->large);
  free(b->large_len);
  free(b);
}

// ---------------------------------------------------------------------------------------------
// the socket's lists (all under s->mtx)

static bool is_closing(sock *s) { return __atomic_load_n(&s->closing, __ATOMIC_ACQUIRE) != 0; }

static conn *slot_get(sock *s, uint32_t id) {
  size_t slot = id & 0xffff;
  if (slot >= s->nslots) return NULL;
  conn *c = s->slots[slot];
  return c != NULL && c->id == id ? c : NULL;
}

static int slot_add(sock *s, conn *c) {
  size_t slot = 0;
  while (slot < s->nslots && s->slots[slot] != NULL) slot++;
  if (slot == s->nslots) {
    if (s->nslots == MAX_SLOTS) return NNG_ENOFILES;
    size_t n = s->nslots == 0 ? 16 : s->nslots * 2;
    if (n > MAX_SLOTS) n = MAX_SLOTS;
    conn **slots = realloc(s->slots, n * sizeof(conn *));
    if (slots == NULL) return NNG_ENOMEM;
    s->slots = slots;
    uint16_t *gens = realloc(s->gens, n * sizeof(uint16_t));
    if (gens == NULL) return NNG_ENOMEM;
    s->gens = gens;
    for (size_t i = s->nslots; i < n; i++) {
      s->slots[i] = NULL;
      s->gens[i] = 0;
    }
    s->nslots = n;
  }
  uint16_t gen = (uint16_t)(s->gens[slot] + 1);
  if (gen == 0) gen = 1; // ids are never 0
  s->gens[slot] = gen;
  s->slots[slot] = c;
  c->id = ((uint32_t)gen << 16) | (uint32_t)slot;
  return 0;
}

static void slot_remove(sock *s, conn *c) {
  size_t slot = c->id & 0xffff;
  if (slot < s->nslots && s->slots[slot] == c) s->slots[slot] = NULL;
}

// Returns true when the caller must wake the JS thread (after unlocking).
static bool mark_signaled(sock *s) {
  if (s->signaled) return false;
  s->signaled = true;
  return true;
}

static void wake(sock *s) {
  // napi_closing once the socket is closing: the JS side is gone, nothing to do.
  napi_call_threadsafe_function(s->tsfn, NULL, napi_tsfn_nonblocking);
}

// ---------------------------------------------------------------------------------------------
// connections

static void recv_cb(void *arg);
static void send_cb(void *arg);

static void post_recv(conn *c) {
  nng_iov iov;
  if (c->big != NULL) {
    iov.iov_buf = c->big + c->big_have;
    iov.iov_len = c->big_len - c->big_have;
  } else {
    iov.iov_buf = c->rbuf + c->rlen;
    iov.iov_len = READ_CHUNK - c->rlen;
  }
  nng_aio_set_iov(c->raio, 1, &iov);
  nng_stream_recv(c->stream, c->raio);
}

static void send_flight(conn *c) {
  nng_iov iov;
  iov.iov_buf = c->flight + c->flight_done;
  iov.iov_len = c->flight_len - c->flight_done;
  nng_aio_set_iov(c->saio, 1, &iov);
  nng_stream_send(c->stream, c->saio);
}

// Frees a connection whose aios are idle or stopped (JS thread, or a callback for a connection
// that was never published).
static void conn_free(conn *c) {
  if (c->raio != NULL) nng_aio_free(c->raio);
  if (c->saio != NULL) nng_aio_free(c->saio);
  if (c->stream != NULL) nng_stream_free(c->stream);
  if (c->cmtx != NULL) nng_mtx_free(c->cmtx);
  free(c->rbuf);
  free(c->big);
  free(c->fill);
  free(c->flight);
  free(c);
}

// Closes a connection once: reports it to JS and queues it to be freed. `reason` is the NNG error
// that ended it, 0 when this side closed it. Safe from any thread, any number of times.
static void conn_fail(conn *c, int reason) {
  sock *s = c->s;
  nng_mtx_lock(s->mtx);
  if (c->closed || is_closing(s)) {
    nng_mtx_unlock(s->mtx);
    return;
  }
  c->closed = true;
  slot_remove(s, c);
  if (c->paused) {
    for (conn **p = &s->paused; *p != NULL; p = &(*p)->pause_next) {
      if (*p == c) {
        *p = c->pause_next;
        break;
      }
    }
    c->paused = false;
  }
  batch_item(s->pending, K_DISCONNECTED, c->id, (uint32_t)reason, 0, 0);
  c->zombie_next = s->zombies;
  s->zombies = c;
  bool w = mark_signaled(s);
  nng_mtx_unlock(s->mtx);
  nng_stream_close(c->stream); // aborts the other aio; its callback finds `closed`
  if (w) wake(s);
}

// Appends a frame to a sink's queue (under g_sink_mtx).
static int sink_push(sink *k, const uint8_t *frame, size_t len) {
  if (k->q_head == k->q_len) k->q_head = k->q_len = 0;
  size_t need = k->q_len + HEADER_BYTES + ((len + 7) & ~(size_t)7);
  if (grow((void **)&k->q, &k->q_cap, need, 1, 64 * 1024) != 0) return NNG_ENOMEM;
  wr32(k->q + k->q_len, (uint32_t)len);
  memcpy(k->q + k->q_len + HEADER_BYTES, frame, len);
  k->q_len = need;
  return 0;
}

// A direct message `m[0..len)` (one stream entry): gives its frame to the destination PE's sink
// when the order rules above allow it (under s->mtx). Returns whether it did.
static bool to_sink(sock *s, const uint8_t *m, size_t len) {
  if (s->io_queued > 0 || s->delivering || len < ENTRY_BYTES) return false;
  if (m[0] != ENTRY_FRAME || m[1] != 0 || m[2] != 0 || m[3] != 0) return false; // a frame without large payloads
  uint32_t dest = rd32(m + 4);
  size_t frame_len = rd32(m + 8);
  if (frame_len > len - ENTRY_BYTES || frame_len < FRAME_HEADER_BYTES) return false;
  if ((m[ENTRY_BYTES + 2] & FRAME_SERVABLE) != 0) return false; // the IO worker answers it, the PE sleeps on
  bool taken = false, call = false;
  pthread_mutex_lock(&g_sink_mtx);
  sink *k = dest < g_sinks_len ? g_sinks[dest] : NULL;
  if (k != NULL && !k->closed && __atomic_load_n(&k->flags[SINK_ASLEEP], __ATOMIC_SEQ_CST) == ASLEEP_COMMITTED &&
      sink_push(k, m + ENTRY_BYTES, frame_len) == 0) {
    taken = true;
    __atomic_store_n(&k->flags[SINK_PENDING], 1, __ATOMIC_SEQ_CST);
    call = !k->signaled;
    k->signaled = true;
    // Under the lock: a sink is closed (and its threadsafe function released) only under it.
    if (call) napi_call_threadsafe_function(k->tsfn, NULL, napi_tsfn_nonblocking);
  }
  pthread_mutex_unlock(&g_sink_mtx);
  return taken;
}

// After the IO worker's JavaScript handled a batch with messages: it may have put frames in any
// PE's ring, so no PE counts as committed to sleep until it checks its ring again.
static void sinks_wake_all(void) {
  pthread_mutex_lock(&g_sink_mtx);
  for (size_t i = g_sinks_lo; i < g_sinks_hi; i++) {
    sink *k = g_sinks[i];
    if (k != NULL && !k->closed) __atomic_store_n(&k->flags[SINK_ASLEEP], 0, __ATOMIC_SEQ_CST);
  }
  pthread_mutex_unlock(&g_sink_mtx);
}

// Cuts the bytes in c->rbuf into messages (under s->mtx). Returns an NNG error that must close
// the connection, or 0.
static int parse_locked(conn *c) {
  sock *s = c->s;
  uint8_t *p = c->rbuf;
  size_t pos = 0;
  int rv = 0;
  while (c->rlen - pos >= HEADER_BYTES) {
    uint32_t word = rd32(p + pos);
    bool direct = (word & DIRECT_BIT) != 0;
    size_t len = word & LENGTH_MASK;
    if (len > s->max_msg) {
      rv = NNG_EMSGSIZE;
      break;
    }
    size_t avail = c->rlen - pos - HEADER_BYTES;
    if (avail >= len) {
      if (direct && c->trusted && to_sink(s, p + pos + HEADER_BYTES, len)) {
        pos += HEADER_BYTES + len;
        continue;
      }
      uint32_t kind = direct ? K_DIRECT : K_MESSAGE;
      if (len >= LARGE_BYTES) {
        uint8_t *m = malloc(len);
        if (m == NULL) {
          rv = NNG_ENOMEM;
          break;
        }
        memcpy(m, p + pos + HEADER_BYTES, len);
        if ((rv = batch_large(s->pending, kind, c->id, m, len)) != 0) {
          free(m);
          break;
        }
      } else if ((rv = batch_small(s->pending, kind, c->id, p + pos + HEADER_BYTES, len)) != 0) {
        break;
      }
      s->pending_bytes += len;
      s->io_queued++;
      pos += HEADER_BYTES + len;
      continue;
    }
    if (HEADER_BYTES + len > READ_CHUNK) { // read the rest straight into its own buffer
      uint8_t *m = malloc(len);
      if (m == NULL) {
        rv = NNG_ENOMEM;
        break;
      }
      memcpy(m, p + pos + HEADER_BYTES, avail);
      c->big_direct = direct;
      c->big = m;
      c->big_len = len;
      c->big_have = avail;
      pos = c->rlen;
    }
    break;
  }
  if (rv == 0) {
    memmove(p, p + pos, c->rlen - pos);
    c->rlen -= pos;
  }
  return rv;
}

static void recv_cb(void *arg) {
  conn *c = arg;
  sock *s = c->s;
  int rv = nng_aio_result(c->raio);
  if (rv == 0 && nng_aio_count(c->raio) == 0) rv = NNG_ECONNSHUT;
  if (rv != 0) {
    conn_fail(c, rv);
    return;
  }
  size_t n = nng_aio_count(c->raio);
  nng_mtx_lock(s->mtx);
  if (c->closed || is_closing(s)) {
    nng_mtx_unlock(s->mtx);
    return;
  }
  if (c->big != NULL) {
    c->big_have += n;
    if (c->big_have == c->big_len) {
      rv = batch_large(s->pending, c->big_direct ? K_DIRECT : K_MESSAGE, c->id, c->big, c->big_len);
      if (rv == 0) {
        s->pending_bytes += c->big_len;
        s->io_queued++;
        c->big = NULL;
      }
    }
  } else {
    c->rlen += n;
    rv = parse_locked(c);
  }
  bool w = false, pause = false;
  if (rv == 0) {
    if (s->pending->meta_len > 0) w = mark_signaled(s);
    if (s->pending_bytes >= s->recv_hwm) { // the JS thread is behind: stop reading until it catches up
      pause = true;
      c->paused = true;
      c->pause_next = s->paused;
      s->paused = c;
    }
  }
  nng_mtx_unlock(s->mtx);
  if (rv != 0) {
    conn_fail(c, rv);
    return;
  }
  if (w) wake(s);
  if (!pause) post_recv(c);
}

static void send_cb(void *arg) {
  conn *c = arg;
  sock *s = c->s;
  int rv = nng_aio_result(c->saio);
  if (rv != 0) {
    conn_fail(c, rv);
    return;
  }
  nng_mtx_lock(c->cmtx);
  c->flight_done += nng_aio_count(c->saio);
  if (c->flight_done < c->flight_len) { // a partial write: send the rest
    nng_mtx_unlock(c->cmtx);
    if (!is_closing(s)) send_flight(c);
    return;
  }
  c->flight_len = c->flight_done = 0;
  if (c->fill_len > 0) { // what was queued meanwhile goes in one write
    uint8_t *t = c->flight;
    size_t tc = c->flight_cap;
    c->flight = c->fill;
    c->flight_cap = c->fill_cap;
    c->flight_len = c->fill_len;
    c->fill = t;
    c->fill_cap = tc;
    c->fill_len = 0;
    nng_mtx_unlock(c->cmtx);
    if (!is_closing(s)) send_flight(c);
    return;
  }
  c->sending = false;
  bool drained = c->want_drain;
  c->want_drain = false;
  if (c->flight_cap > s->keep_send) {
    free(c->flight);
    c->flight = NULL;
    c->flight_cap = 0;
  }
  if (c->fill_cap > s->keep_send) {
    free(c->fill);
    c->fill = NULL;
    c->fill_cap = 0;
  }
  nng_mtx_unlock(c->cmtx);
  if (!drained) return;
  nng_mtx_lock(s->mtx);
  bool w = false;
  if (!c->closed && !is_closing(s)) {
    batch_item(s->pending, K_DRAINED, c->id, 0, 0, 0);
    w = mark_signaled(s);
  }
  nng_mtx_unlock(s->mtx);
  if (w) wake(s);
}

// Publishes a new connection (from an NNG callback) and starts reading it. Takes `stream`.
static void conn_open(sock *s, nng_stream *stream, bool dialed, uint32_t request) {
  conn *c = calloc(1, sizeof(conn));
  int rv = NNG_ENOMEM;
  if (c != NULL) {
    c->s = s;
    c->stream = stream;
    c->rbuf = malloc(READ_CHUNK);
    if (c->rbuf != NULL && (rv = nng_mtx_alloc(&c->cmtx)) == 0 && (rv = nng_aio_alloc(&c->raio, recv_cb, c)) == 0) {
      rv = nng_aio_alloc(&c->saio, send_cb, c);
    }
  }
  nng_mtx_lock(s->mtx);
  if (rv == 0 && !is_closing(s)) rv = slot_add(s, c);
  else if (rv == 0) rv = NNG_ECLOSED;
  bool w = false;
  if (rv == 0) {
    c->all_next = s->all;
    if (s->all != NULL) s->all->all_prev = c;
    s->all = c;
    c->starting = true;
    batch_item(s->pending, K_CONNECTED, c->id, dialed ? 1 : 0, request, 0);
    w = mark_signaled(s);
  } else if (dialed && !is_closing(s)) {
    batch_item(s->pending, K_DIAL_FAILED, 0, request, (uint32_t)rv, 0);
    w = mark_signaled(s);
  }
  nng_mtx_unlock(s->mtx);
  if (rv != 0) {
    if (c != NULL) conn_free(c);
    else nng_stream_free(stream);
  } else {
    post_recv(c);
    nng_mtx_lock(s->mtx);
    c->starting = false;
    if (c->closed) w = mark_signaled(s) || w; // it closed meanwhile: the JS thread may free it now
    nng_mtx_unlock(s->mtx);
  }
  if (w) wake(s);
}

static void accept_cb(void *arg) {
  listener *l = arg;
  sock *s = l->s;
  int rv = nng_aio_result(l->aio);
  if (l->sleeping) { // the pause after an error is over
    l->sleeping = false;
    if (!is_closing(s)) nng_stream_listener_accept(l->l, l->aio);
    return;
  }
  if (rv == 0) conn_open(s, nng_aio_get_output(l->aio, 0), false, 0);
  if (is_closing(s) || rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;
  if (rv != 0) { // out of files, a connection aborted while queued: try again in a moment
    l->sleeping = true;
    nng_sleep_aio(10, l->aio);
    return;
  }
  nng_stream_listener_accept(l->l, l->aio);
}

static void dial_cb(void *arg) {
  dialreq *d = arg;
  sock *s = d->s;
  int rv = nng_aio_result(d->aio);
  if (rv == 0) conn_open(s, nng_aio_get_output(d->aio, 0), true, d->request);
  nng_mtx_lock(s->mtx);
  d->done = true;
  bool w = false;
  if (!is_closing(s)) {
    if (rv != 0) batch_item(s->pending, K_DIAL_FAILED, 0, d->request, (uint32_t)rv, 0);
    w = mark_signaled(s); // also to free the request
  }
  nng_mtx_unlock(s->mtx);
  if (w) wake(s);
}

// ---------------------------------------------------------------------------------------------
// the socket's life (JS thread)

static void env_unlink(sock *s) {
  if (s->env == NULL) return;
  if (s->env_prev != NULL) s->env_prev->env_next = s->env_next;
  else s->env->open = s->env_next;
  if (s->env_next != NULL) s->env_next->env_prev = s->env_prev;
  s->env = NULL;
}

// Stops every callback of the socket, then frees everything but the struct itself. Idempotent.
static void destroy(sock *s) {
  if (s->destroyed) return;
  s->destroyed = true;
  env_unlink(s);
  pthread_mutex_lock(&g_mtx);
  if (g_direct == s) g_direct = NULL;
  while (s->direct_users > 0) { // a PE's direct_send is inside; it leaves in microseconds
    pthread_mutex_unlock(&g_mtx);
    nng_msleep(1);
    pthread_mutex_lock(&g_mtx);
  }
  pthread_mutex_unlock(&g_mtx);
  nng_mtx_lock(s->mtx);
  __atomic_store_n(&s->closing, 1, __ATOMIC_RELEASE);
  nng_mtx_unlock(s->mtx);
  // From here on no callback adds a connection or a list entry, so the lists are stable.
  for (listener *l = s->listeners; l != NULL; l = l->next) nng_stream_listener_close(l->l);
  for (dialreq *d = s->dials; d != NULL; d = d->next) nng_stream_dialer_close(d->dialer);
  for (conn *c = s->all; c != NULL; c = c->all_next) nng_stream_close(c->stream);
  for (listener *l = s->listeners; l != NULL; l = l->next) nng_aio_stop(l->aio);
  for (dialreq *d = s->dials; d != NULL; d = d->next) nng_aio_stop(d->aio);
  for (conn *c = s->all; c != NULL; c = c->all_next) {
    nng_aio_stop(c->raio);
    nng_aio_stop(c->saio);
  }
  while (s->listeners != NULL) {
    listener *l = s->listeners;
    s->listeners = l->next;
    nng_aio_free(l->aio);
    nng_stream_listener_free(l->l);
    free(l);
  }
  while (s->dials != NULL) {
    dialreq *d = s->dials;
    s->dials = d->next;
    nng_aio_free(d->aio);
    nng_stream_dialer_free(d->dialer);
    free(d);
  }
  while (s->all != NULL) {
    conn *c = s->all;
    s->all = c->all_next;
    conn_free(c);
  }
  s->zombies = NULL;
  s->paused = NULL;
  batch_free(s->pending);
  batch_free(s->spare);
  s->pending = s->spare = NULL;
  free(s->slots);
  free(s->gens);
  s->slots = NULL;
  s->gens = NULL;
  s->nslots = 0;
  nng_mtx_free(s->mtx);
  s->mtx = NULL;
}

static void sock_unref(sock *s) {
  if (--s->refs == 0) free(s);
}

static void free_external(napi_env env, void *data, void *hint) { free(data); }

// Hands a batch to JavaScript: callback(items: Uint32Array, buffers: ArrayBuffer[]). An exception
// from the callback stays pending when poll() called it (poll() then throws it).
static void deliver(napi_env env, napi_value callback, batch *b, bool from_poll) {
  napi_value items_ab, items, buffers, packed, undefined, argv[2];
  void *data;
  if (napi_create_arraybuffer(env, b->meta_len * sizeof(uint32_t), &data, &items_ab) != napi_ok) return;
  memcpy(data, b->meta, b->meta_len * sizeof(uint32_t));
  if (napi_create_typedarray(env, napi_uint32_array, b->meta_len, items_ab, 0, &items) != napi_ok) return;
  if (napi_create_array_with_length(env, b->large_count + 1, &buffers) != napi_ok) return;
  if (napi_create_arraybuffer(env, b->packed_len, &data, &packed) != napi_ok) return;
  if (b->packed_len > 0) memcpy(data, b->packed, b->packed_len);
  napi_set_element(env, buffers, 0, packed);
  for (size_t i = 0; i < b->large_count; i++) {
    napi_value ab;
    if (napi_create_external_arraybuffer(env, b->large[i], b->large_len[i], free_external, NULL, &ab) != napi_ok) return;
    b->large[i] = NULL; // JavaScript owns it now
    napi_set_element(env, buffers, (uint32_t)(i + 1), ab);
  }
  napi_get_undefined(env, &undefined);
  argv[0] = items;
  argv[1] = buffers;
  if (napi_call_function(env, undefined, callback, 2, argv, NULL) == napi_pending_exception && !from_poll) {
    // The TypeScript side catches its callers' errors; this is a last resort.
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

// Delivers what is pending (JS thread): from call_js when the threadsafe function fires, or from
// poll(). Returns the number of items delivered.
static size_t drain(napi_env env, napi_value callback, sock *s, bool from_poll) {
  if (s->draining) return 0;
  nng_mtx_lock(s->mtx);
  batch *b = s->pending;
  s->pending = s->spare;
  s->spare = NULL;
  s->signaled = false;
  s->pending_bytes = 0;
  bool messages = s->io_queued > 0;
  s->io_queued = 0;
  if (messages) s->delivering = true;
  conn *resume = s->paused;
  s->paused = NULL;
  for (conn *c = resume; c != NULL; c = c->pause_next) c->paused = false;
  conn *dead = NULL;
  for (conn **p = &s->zombies; *p != NULL;) {
    conn *c = *p;
    if (c->starting || c->users > 0) { // conn_open or a direct sender still holds it; a later drain frees it
      p = &c->zombie_next;
      continue;
    }
    *p = c->zombie_next;
    c->zombie_next = dead;
    dead = c;
    if (c->all_prev != NULL) c->all_prev->all_next = c->all_next;
    else s->all = c->all_next;
    if (c->all_next != NULL) c->all_next->all_prev = c->all_prev;
  }
  dialreq *dead_dials = NULL;
  for (dialreq **p = &s->dials; *p != NULL;) {
    dialreq *d = *p;
    if (d->done) {
      *p = d->next;
      d->next = dead_dials;
      dead_dials = d;
    } else {
      p = &d->next;
    }
  }
  nng_mtx_unlock(s->mtx);
  for (conn *c = resume, *next; c != NULL; c = next) {
    next = c->pause_next;
    post_recv(c);
  }
  for (conn *c = dead, *next; c != NULL; c = next) {
    next = c->zombie_next;
    conn_free(c); // nng_aio_free waits for a callback still running
  }
  for (dialreq *d = dead_dials, *next; d != NULL; d = next) {
    next = d->next;
    nng_aio_free(d->aio);
    nng_stream_dialer_free(d->dialer);
    free(d);
  }
  size_t items = b->meta_len / ITEM_WORDS;
  s->draining = true;
  if (items > 0) deliver(env, callback, b, from_poll);
  s->draining = false;
  if (s->destroyed) { // closed from inside the callback
    batch_free(b);
    return items;
  }
  if (messages) {
    if (s->shared) sinks_wake_all();
    nng_mtx_lock(s->mtx);
    s->delivering = false;
    nng_mtx_unlock(s->mtx);
  }
  batch_reset(b, s->keep_batch);
  s->spare = b;
  return items;
}

static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  sock *s = context;
  if (env == NULL || s == NULL || s->destroyed) return;
  drain(env, callback, s, false);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  sock *s = data;
  destroy(s);
  sock_unref(s);
}

static void wrap_finalize(napi_env env, void *data, void *hint) { sock_unref((sock *)data); }

static void sink_close(sink *k, bool in_cleanup);

static void env_cleanup(void *arg) {
  envdata *ed = arg;
  while (ed->sinks != NULL) sink_close(ed->sinks, true); // unlinks it
  while (ed->open != NULL) destroy(ed->open); // unlinks it
}

static void envdata_finalize(napi_env env, void *data, void *hint) { free(data); }

// ---------------------------------------------------------------------------------------------
// JavaScript methods

#define CHECK(call)                                                                                  \
  do {                                                                                               \
    if ((call) != napi_ok) {                                                                         \
      napi_throw_error(env, "ERR_SHOAL_NNG", "shoal_nng: " #call " failed");                         \
      return NULL;                                                                                   \
    }                                                                                                \
  } while (0)

static napi_value number(napi_env env, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  return v;
}

static sock *this_sock(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *s = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &s) != napi_ok) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", "shoal_nng: not a Socket");
    return NULL;
  }
  return s;
}

static bool get_string(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", "shoal_nng: expected a string");
    return false;
  }
  return true;
}

static double get_number(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

// new Socket(callback, maxMessageBytes, sendBufferBytes, receiveBufferBytes)
static napi_value js_new(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], self, name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", "shoal_nng: Socket(callback, maxMessageBytes, sendBufferBytes, receiveBufferBytes)");
    return NULL;
  }
  envdata *ed = NULL;
  CHECK(napi_get_instance_data(env, (void **)&ed));
  sock *s = calloc(1, sizeof(sock));
  if (s == NULL || nng_mtx_alloc(&s->mtx) != 0 || (s->pending = calloc(1, sizeof(batch))) == NULL ||
      (s->spare = calloc(1, sizeof(batch))) == NULL) {
    if (s != NULL) {
      if (s->mtx != NULL) nng_mtx_free(s->mtx);
      free(s->pending);
      free(s);
    }
    napi_throw_error(env, "ERR_SHOAL_NNG", "shoal_nng: out of memory");
    return NULL;
  }
  s->max_msg = (size_t)get_number(env, argv[1]);
  s->send_hwm = (size_t)get_number(env, argv[2]);
  s->recv_hwm = (size_t)get_number(env, argv[3]);
  s->keep_send = s->send_hwm * 4 > KEEP_BYTES ? s->send_hwm * 4 : KEEP_BYTES;
  s->keep_batch = s->recv_hwm * 2 > KEEP_BYTES ? s->recv_hwm * 2 : KEEP_BYTES;
  CHECK(napi_create_string_utf8(env, "shoal.nng", NAPI_AUTO_LENGTH, &name));
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, s, tsfn_finalize, s, call_js, &s->tsfn) != napi_ok) {
    nng_mtx_free(s->mtx);
    free(s->pending);
    free(s->spare);
    free(s);
    napi_throw_error(env, "ERR_SHOAL_NNG", "shoal_nng: could not create the threadsafe function");
    return NULL;
  }
  s->refs = 1; // the threadsafe function's
  napi_unref_threadsafe_function(env, s->tsfn); // the TypeScript side refs it while the socket is active
  if (napi_wrap(env, self, s, wrap_finalize, NULL, NULL) != napi_ok) {
    destroy(s);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    napi_throw_error(env, "ERR_SHOAL_NNG", "shoal_nng: napi_wrap failed");
    return NULL;
  }
  s->refs = 2;
  napi_create_reference(env, self, 1, &s->self);
  napi_create_reference(env, argv[0], 1, &s->callback);
  s->env = ed;
  s->env_next = ed->open;
  if (ed->open != NULL) ed->open->env_prev = s;
  ed->open = s;
  return self;
}

// listen(url) -> the bound TCP port (0 for other transports), or -error
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char url[4096];
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL || !get_string(env, argv[0], url, sizeof url)) return NULL;
  if (s->destroyed) return number(env, -NNG_ECLOSED);
  listener *l = calloc(1, sizeof(listener));
  if (l == NULL) return number(env, -NNG_ENOMEM);
  l->s = s;
  int rv = nng_stream_listener_alloc(&l->l, url);
  if (rv == 0) {
    nng_stream_listener_set_bool(l->l, NNG_OPT_TCP_NODELAY, true); // NNG_ENOTSUP for ipc://
    rv = nng_stream_listener_listen(l->l);
  }
  if (rv == 0) rv = nng_aio_alloc(&l->aio, accept_cb, l);
  if (rv != 0) {
    if (l->l != NULL) nng_stream_listener_free(l->l);
    free(l);
    return number(env, -rv);
  }
  int port = 0;
  if (nng_stream_listener_get_int(l->l, NNG_OPT_TCP_BOUND_PORT, &port) != 0) port = 0;
  l->next = s->listeners; // the list is read by destroy() only, on this thread
  s->listeners = l;
  nng_stream_listener_accept(l->l, l->aio);
  return number(env, port);
}

// dial(url, request, timeoutMs) -> 0 (a K_CONNECTED or K_DIAL_FAILED item follows), or -error
static napi_value js_dial(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char url[4096];
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL || !get_string(env, argv[0], url, sizeof url)) return NULL;
  if (s->destroyed) return number(env, -NNG_ECLOSED);
  dialreq *d = calloc(1, sizeof(dialreq));
  if (d == NULL) return number(env, -NNG_ENOMEM);
  d->s = s;
  d->request = (uint32_t)get_number(env, argv[1]);
  int rv = nng_stream_dialer_alloc(&d->dialer, url);
  if (rv == 0) {
    nng_stream_dialer_set_bool(d->dialer, NNG_OPT_TCP_NODELAY, true);
    rv = nng_aio_alloc(&d->aio, dial_cb, d);
  }
  if (rv != 0) {
    if (d->dialer != NULL) nng_stream_dialer_free(d->dialer);
    free(d);
    return number(env, -rv);
  }
  nng_aio_set_timeout(d->aio, (nng_duration)get_number(env, argv[2]));
  nng_mtx_lock(s->mtx);
  d->next = s->dials;
  s->dials = d;
  nng_mtx_unlock(s->mtx);
  nng_stream_dialer_dial(d->dialer, d->aio);
  return number(env, 0);
}

static bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, v, &type, &length, (void **)data, &ab, &offset) != napi_ok) return false;
    static const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
    *len = length * (type < sizeof sizes / sizeof sizes[0] ? sizes[type] : 1);
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    return napi_get_dataview_info(env, v, len, (void **)data, &ab, &offset) == napi_ok;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    return napi_get_arraybuffer_info(env, v, (void **)data, len) == napi_ok;
  }
  return false;
}

// Queues one message on `c`: its length word (`bits` | length), `a`, `b`, then `pad` zero bytes;
// starts writing if nothing is in flight. Returns the bytes queued with it, -NNG_ENOMEM, or, when
// `limit` bytes are queued already, -NNG_EAGAIN (and queues nothing). Any thread.
static int64_t conn_queue(conn *c, uint32_t bits, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, size_t pad, size_t limit) {
  sock *s = c->s;
  size_t len = alen + blen + pad;
  nng_mtx_lock(c->cmtx);
  if (c->fill_len + c->flight_len - c->flight_done >= limit) {
    nng_mtx_unlock(c->cmtx);
    return -NNG_EAGAIN;
  }
  if (grow((void **)&c->fill, &c->fill_cap, c->fill_len + HEADER_BYTES + len, 1, 64 * 1024) != 0) {
    nng_mtx_unlock(c->cmtx);
    return -NNG_ENOMEM;
  }
  uint8_t *h = c->fill + c->fill_len;
  wr32(h, bits | (uint32_t)len);
  if (alen > 0) memcpy(h + HEADER_BYTES, a, alen);
  if (blen > 0) memcpy(h + HEADER_BYTES + alen, b, blen);
  if (pad > 0) memset(h + HEADER_BYTES + alen + blen, 0, pad);
  c->fill_len += HEADER_BYTES + len;
  size_t queued = c->fill_len + c->flight_len - c->flight_done;
  bool start = !c->sending;
  if (start) {
    uint8_t *t = c->flight;
    size_t tc = c->flight_cap;
    c->flight = c->fill;
    c->flight_cap = c->fill_cap;
    c->flight_len = c->fill_len;
    c->flight_done = 0;
    c->fill = t;
    c->fill_cap = tc;
    c->fill_len = 0;
    c->sending = true;
  }
  if (queued >= s->send_hwm) c->want_drain = true;
  nng_mtx_unlock(c->cmtx);
  if (start) send_flight(c);
  return (int64_t)queued;
}

// send(pipe, bytes) -> bytes queued on the pipe after this one (>= 0), or -error
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL) return NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  if (argc < 2 || !get_bytes(env, argv[1], &data, &len)) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", "shoal_nng: send(pipe, bytes) expects a typed array, DataView or ArrayBuffer");
    return NULL;
  }
  if (s->destroyed) return number(env, -NNG_ECLOSED);
  if (len > s->max_msg || len > LENGTH_MASK) return number(env, -NNG_EMSGSIZE);
  uint32_t id = (uint32_t)get_number(env, argv[0]);
  nng_mtx_lock(s->mtx);
  conn *c = slot_get(s, id); // only this thread frees connections, so `c` stays valid below
  nng_mtx_unlock(s->mtx);
  if (c == NULL) return number(env, -NNG_ENOENT);
  return number(env, (double)conn_queue(c, 0, data, len, NULL, 0, 0, SIZE_MAX));
}

// flush(pipe) -> true if bytes are queued (a K_DRAINED item follows when they are written)
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL) return NULL;
  bool pending = false;
  if (!s->destroyed) {
    nng_mtx_lock(s->mtx);
    conn *c = slot_get(s, (uint32_t)get_number(env, argv[0]));
    nng_mtx_unlock(s->mtx);
    if (c != NULL) {
      nng_mtx_lock(c->cmtx);
      pending = c->sending;
      if (pending) c->want_drain = true;
      nng_mtx_unlock(c->cmtx);
    }
  }
  napi_get_boolean(env, pending, &result);
  return result;
}

// closePipe(pipe) -> true if the pipe was open (a K_DISCONNECTED item with reason 0 follows)
static napi_value js_close_pipe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL) return NULL;
  conn *c = NULL;
  if (!s->destroyed) {
    nng_mtx_lock(s->mtx);
    c = slot_get(s, (uint32_t)get_number(env, argv[0]));
    nng_mtx_unlock(s->mtx);
    if (c != NULL) conn_fail(c, 0);
  }
  napi_get_boolean(env, c != NULL, &result);
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock *s = this_sock(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  if (!s->released) {
    s->released = true;
    destroy(s);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort); // finalized later: tsfn_finalize
    napi_delete_reference(env, s->self);
    napi_delete_reference(env, s->callback);
    s->self = NULL;
    s->callback = NULL;
  }
  return NULL;
}

// poll() -> the number of items delivered now, synchronously, through the batch callback
static napi_value js_poll(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock *s = this_sock(env, info, &argc, NULL);
  if (s == NULL) return NULL;
  if (s->destroyed || s->draining) return number(env, 0);
  nng_mtx_lock(s->mtx);
  bool pending = s->pending->meta_len > 0 || s->paused != NULL || s->zombies != NULL;
  nng_mtx_unlock(s->mtx);
  if (!pending) return number(env, 0);
  napi_value callback;
  CHECK(napi_get_reference_value(env, s->callback, &callback));
  return number(env, (double)drain(env, callback, s, true));
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[0], &on);
  if (!s->released) {
    if (on) napi_ref_threadsafe_function(env, s->tsfn);
    else napi_unref_threadsafe_function(env, s->tsfn);
  }
  return NULL;
}

// share(rank, pipe) -> whether this socket is now the process's for direct sends: PEs may send to
// process `rank` on `pipe` (0: not any more), and its direct messages may go to their sinks. A
// process has one such socket (its IO worker's); another is refused.
static napi_value js_share(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL) return NULL;
  uint32_t rank = (uint32_t)get_number(env, argv[0]);
  uint32_t pipe = (uint32_t)get_number(env, argv[1]);
  bool ok = !s->destroyed;
  pthread_mutex_lock(&g_mtx);
  if (ok && g_direct != NULL && g_direct != s) ok = false;
  if (ok) {
    g_direct = s;
    ok = table_set(&g_pipes, &g_pipes_len, rank, pipe) == 0;
  }
  pthread_mutex_unlock(&g_mtx);
  if (ok) {
    nng_mtx_lock(s->mtx);
    s->shared = true;
    conn *c = pipe == 0 ? NULL : slot_get(s, pipe);
    if (c != NULL) c->trusted = true;
    nng_mtx_unlock(s->mtx);
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

// The entry header, frame and frame length of a direct message from argv[0..2] (a 16-byte typed
// array, a typed array, and the frame's length in it), and the padding that ends the frame on an
// 8-byte boundary. False, with a TypeError naming `usage` thrown, when they are not that; a length
// beyond the frame's array leaves -NNG_EINVAL in `*error`.
static bool get_direct_message(napi_env env, napi_value *argv, const char *usage, uint8_t **entry, uint8_t **frame, size_t *frame_len, size_t *pad, int *error) {
  size_t entry_len = 0, frame_cap = 0;
  if (!get_bytes(env, argv[0], entry, &entry_len) || entry_len != ENTRY_BYTES || !get_bytes(env, argv[1], frame, &frame_cap)) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", usage);
    return false;
  }
  *frame_len = (size_t)get_number(env, argv[2]);
  *pad = ((*frame_len + 7) & ~(size_t)7) - *frame_len;
  *error = *frame_len > frame_cap ? -NNG_EINVAL : 0;
  return true;
}

// sendDirect(pipe, entry, frame, frameLength) -> bytes queued on the pipe after it, or -error: a
// direct message from the IO worker itself (a served answer), which the receiving socket may give
// straight to the destination PE's sink.
static napi_value js_send_direct(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL) return NULL;
  static const char usage[] = "shoal_nng: sendDirect(pipe, entry, frame, frameLength)";
  uint8_t *entry = NULL, *frame = NULL;
  size_t frame_len = 0, pad = 0;
  int error = 0;
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", usage);
    return NULL;
  }
  if (!get_direct_message(env, argv + 1, usage, &entry, &frame, &frame_len, &pad, &error)) return NULL;
  if (error != 0) return number(env, error);
  if (s->destroyed) return number(env, -NNG_ECLOSED);
  if (ENTRY_BYTES + frame_len + pad > s->max_msg) return number(env, -NNG_EMSGSIZE);
  nng_mtx_lock(s->mtx);
  conn *c = slot_get(s, (uint32_t)get_number(env, argv[0])); // freed only on this thread
  nng_mtx_unlock(s->mtx);
  if (c == NULL) return number(env, -NNG_ENOENT);
  return number(env, (double)conn_queue(c, DIRECT_BIT, entry, ENTRY_BYTES, frame, frame_len, pad, SIZE_MAX));
}

// handed(localPe, count): the IO worker has handed to the connections the first `count` records
// local PE `localPe` gave it (count modulo 2^32)
static napi_value js_handed(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  sock *s = this_sock(env, info, &argc, argv);
  if (s == NULL) return NULL;
  uint32_t local = (uint32_t)get_number(env, argv[0]);
  uint32_t count = (uint32_t)(int64_t)get_number(env, argv[1]);
  pthread_mutex_lock(&g_mtx);
  if (g_direct == s) table_set(&g_handed, &g_handed_len, local, count);
  pthread_mutex_unlock(&g_mtx);
  return NULL;
}

// directSend(localPe, rank, posted, entry, frame, frameLength, limit) -> 0: sent; 1: not now (take
// the IO worker's lane); or -error. `entry`: the 16-byte entry header; `posted`: the records local
// PE `localPe` has given its IO worker (count modulo 2^32); `limit`: not when the connection has
// this many bytes queued already (then the IO worker's lane, and its back-pressure, take over).
// Any thread.
static napi_value js_direct_send(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  static const char usage[] = "shoal_nng: directSend(localPe, rank, posted, entry, frame, frameLength, limit)";
  uint8_t *entry = NULL, *frame = NULL;
  size_t frame_len = 0, pad = 0;
  int error = 0;
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", usage);
    return NULL;
  }
  if (!get_direct_message(env, argv + 3, usage, &entry, &frame, &frame_len, &pad, &error)) return NULL;
  if (error != 0) return number(env, error);
  uint32_t local = (uint32_t)get_number(env, argv[0]);
  uint32_t rank = (uint32_t)get_number(env, argv[1]);
  uint32_t posted = (uint32_t)(int64_t)get_number(env, argv[2]);
  size_t limit = (size_t)get_number(env, argv[6]);
  pthread_mutex_lock(&g_mtx);
  sock *s = g_direct;
  conn *c = NULL;
  uint32_t handed = local < g_handed_len ? g_handed[local] : 0;
  uint32_t pipe = rank < g_pipes_len ? g_pipes[rank] : 0;
  if (s != NULL && handed == posted && pipe != 0 && ENTRY_BYTES + frame_len + pad <= s->max_msg) {
    nng_mtx_lock(s->mtx);
    c = is_closing(s) ? NULL : slot_get(s, pipe);
    if (c != NULL && c->trusted) c->users++;
    else c = NULL;
    nng_mtx_unlock(s->mtx);
  }
  if (c == NULL) {
    pthread_mutex_unlock(&g_mtx);
    return number(env, 1);
  }
  s->direct_users++;
  pthread_mutex_unlock(&g_mtx);
  int64_t queued = conn_queue(c, DIRECT_BIT, entry, ENTRY_BYTES, frame, frame_len, pad, limit < s->send_hwm ? limit : s->send_hwm);
  pthread_mutex_lock(&g_mtx);
  nng_mtx_lock(s->mtx);
  c->users--;
  bool w = c->users == 0 && c->closed && !is_closing(s) && mark_signaled(s); // its owner may free it now
  nng_mtx_unlock(s->mtx);
  if (w) wake(s);
  s->direct_users--;
  pthread_mutex_unlock(&g_mtx);
  if (queued == -NNG_EAGAIN) return number(env, 1); // congested: the IO worker's lane waits for it
  return number(env, queued < 0 ? (double)queued : 0);
}

// --- sinks (on the PE's thread)

static void sink_unref(sink *k) {
  if (--k->refs == 0) free(k);
}

static void sink_call_js(napi_env env, napi_value callback, void *context, void *data) {
  sink *k = context;
  if (env == NULL || k == NULL || k->closed) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, callback, 0, NULL, NULL) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

static void sink_tsfn_finalize(napi_env env, void *data, void *hint) { sink_unref((sink *)data); }

static void sink_wrap_finalize(napi_env env, void *data, void *hint) {
  sink *k = data;
  sink_close(k, true); // collected while open: the PE has gone
  sink_unref(k);
}

static void sink_close(sink *k, bool in_cleanup) {
  if (k->closed) return;
  pthread_mutex_lock(&g_sink_mtx);
  k->closed = true;
  if (k->pe < g_sinks_len && g_sinks[k->pe] == k) g_sinks[k->pe] = NULL;
  free(k->q);
  k->q = NULL;
  k->q_head = k->q_len = k->q_cap = 0;
  pthread_mutex_unlock(&g_sink_mtx);
  if (k->env != NULL) {
    if (k->env_prev != NULL) k->env_prev->env_next = k->env_next;
    else k->env->sinks = k->env_next;
    if (k->env_next != NULL) k->env_next->env_prev = k->env_prev;
    k->env = NULL;
  }
  napi_release_threadsafe_function(k->tsfn, napi_tsfn_abort);
  (void)in_cleanup; // the reference to the words goes with the environment
}

static sink *this_sink(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *k = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &k) != napi_ok) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", "shoal_nng: not a Sink");
    return NULL;
  }
  return k;
}

// new Sink(pe, words, onFrames): PE `pe`'s sink for direct messages. `words`: an Int32Array of at
// least 2 on a SharedArrayBuffer ([ASLEEP, PENDING], see above); onFrames() is called (on this
// thread) when frames arrive while it is committed to sleep.
static napi_value js_sink_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self, name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  bool is = false;
  napi_typedarray_type type;
  size_t length = 0, offset;
  void *data = NULL;
  napi_value ab;
  if (argc < 3 || napi_is_typedarray(env, argv[1], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset) != napi_ok || type != napi_int32_array || length < 2) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", "shoal_nng: Sink(pe, words: Int32Array(2) on a SharedArrayBuffer, onFrames)");
    return NULL;
  }
  envdata *ed = NULL;
  CHECK(napi_get_instance_data(env, (void **)&ed));
  uint32_t pe = (uint32_t)get_number(env, argv[0]);
  sink *k = calloc(1, sizeof(sink));
  if (k == NULL) {
    napi_throw_error(env, "ERR_SHOAL_NNG", "shoal_nng: out of memory");
    return NULL;
  }
  k->pe = pe;
  k->flags = data;
  CHECK(napi_create_string_utf8(env, "shoal.sink", NAPI_AUTO_LENGTH, &name));
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, k, sink_tsfn_finalize, k, sink_call_js, &k->tsfn) != napi_ok) {
    free(k);
    napi_throw_error(env, "ERR_SHOAL_NNG", "shoal_nng: could not create the threadsafe function");
    return NULL;
  }
  k->refs = 1;
  napi_unref_threadsafe_function(env, k->tsfn); // a sink never keeps its thread alive
  bool taken = false;
  pthread_mutex_lock(&g_sink_mtx);
  sink **slot = NULL;
  if (pe >= g_sinks_len) {
    size_t n = g_sinks_len < 16 ? 16 : g_sinks_len;
    while (n <= pe) n *= 2;
    sink **t = realloc(g_sinks, n * sizeof(sink *));
    if (t != NULL) {
      memset(t + g_sinks_len, 0, (n - g_sinks_len) * sizeof(sink *));
      g_sinks = t;
      g_sinks_len = n;
    }
  }
  if (pe < g_sinks_len) slot = &g_sinks[pe];
  if (slot != NULL && *slot != NULL) taken = true;
  else if (slot != NULL) {
    *slot = k;
    if (pe < g_sinks_lo) g_sinks_lo = pe;
    if (pe + 1 > g_sinks_hi) g_sinks_hi = pe + 1;
  }
  pthread_mutex_unlock(&g_sink_mtx);
  if (slot == NULL || taken) {
    k->closed = true;
    napi_release_threadsafe_function(k->tsfn, napi_tsfn_abort);
    napi_throw_error(env, "ERR_SHOAL_NNG", taken ? "shoal_nng: this PE has a sink already" : "shoal_nng: out of memory");
    return NULL;
  }
  napi_create_reference(env, argv[1], 1, &k->flags_ref); // keeps the words alive while the sink is
  if (napi_wrap(env, self, k, sink_wrap_finalize, NULL, NULL) != napi_ok) {
    sink_close(k, false);
    napi_throw_error(env, "ERR_SHOAL_NNG", "shoal_nng: napi_wrap failed");
    return NULL;
  }
  k->refs = 2;
  k->env = ed;
  k->env_next = ed->sinks;
  if (ed->sinks != NULL) ed->sinks->env_prev = k;
  ed->sinks = k;
  return self;
}

// take(into: Uint8Array) -> the length of the next frame, copied to `into`, or -1 when none waits
static napi_value js_sink_take(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  sink *k = this_sink(env, info, &argc, argv);
  if (k == NULL) return NULL;
  uint8_t *into = NULL;
  size_t cap = 0;
  if (argc < 1 || !get_bytes(env, argv[0], &into, &cap)) {
    napi_throw_type_error(env, "ERR_SHOAL_NNG", "shoal_nng: take(into) expects a typed array");
    return NULL;
  }
  pthread_mutex_lock(&g_sink_mtx);
  if (k->closed || k->q_head == k->q_len) {
    k->q_head = k->q_len = 0;
    k->signaled = false;
    if (!k->closed) __atomic_store_n(&k->flags[SINK_PENDING], 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&g_sink_mtx);
    return number(env, -1);
  }
  size_t len = rd32(k->q + k->q_head);
  if (len > cap) {
    pthread_mutex_unlock(&g_sink_mtx);
    napi_throw_range_error(env, "ERR_SHOAL_NNG", "shoal_nng: a direct frame is larger than the buffer to take it");
    return NULL;
  }
  memcpy(into, k->q + k->q_head + HEADER_BYTES, len);
  k->q_head += HEADER_BYTES + ((len + 7) & ~(size_t)7);
  if (k->q_head == k->q_len) {
    k->q_head = k->q_len = 0;
    k->signaled = false;
    __atomic_store_n(&k->flags[SINK_PENDING], 0, __ATOMIC_SEQ_CST);
    if (k->q_cap > KEEP_BYTES) {
      free(k->q);
      k->q = NULL;
      k->q_cap = 0;
    }
  }
  pthread_mutex_unlock(&g_sink_mtx);
  return number(env, (double)len);
}

static napi_value js_sink_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sink *k = this_sink(env, info, &argc, NULL);
  if (k == NULL) return NULL;
  if (!k->closed) {
    sink_close(k, false);
    if (k->flags_ref != NULL) napi_delete_reference(env, k->flags_ref);
    k->flags_ref = NULL;
  }
  return NULL;
}

static napi_value js_error_text(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_create_string_utf8(env, nng_strerror((int)get_number(env, argv[0])), NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value js_version(napi_env env, napi_callback_info info) {
  napi_value result;
  CHECK(napi_create_string_utf8(env, nng_version(), NAPI_AUTO_LENGTH, &result));
  return result;
}

NAPI_MODULE_INIT() {
  envdata *ed = calloc(1, sizeof(envdata));
  if (ed == NULL) return NULL;
  CHECK(napi_set_instance_data(env, ed, envdata_finalize, NULL));
  CHECK(napi_add_env_cleanup_hook(env, env_cleanup, ed));
  napi_property_descriptor methods[] = {
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"dial", NULL, js_dial, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, js_flush, NULL, NULL, NULL, napi_default, NULL},
      {"closePipe", NULL, js_close_pipe, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_default, NULL},
      {"poll", NULL, js_poll, NULL, NULL, NULL, napi_default, NULL},
      {"share", NULL, js_share, NULL, NULL, NULL, napi_default, NULL},
      {"handed", NULL, js_handed, NULL, NULL, NULL, napi_default, NULL},
      {"sendDirect", NULL, js_send_direct, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value ctor, fn;
  CHECK(napi_define_class(env, "Socket", NAPI_AUTO_LENGTH, js_new, NULL, sizeof methods / sizeof methods[0], methods, &ctor));
  CHECK(napi_set_named_property(env, exports, "Socket", ctor));
  napi_property_descriptor sink_methods[] = {
      {"take", NULL, js_sink_take, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_sink_close, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_class(env, "Sink", NAPI_AUTO_LENGTH, js_sink_new, NULL, sizeof sink_methods / sizeof sink_methods[0], sink_methods, &ctor));
  CHECK(napi_set_named_property(env, exports, "Sink", ctor));
  CHECK(napi_create_function(env, "directSend", NAPI_AUTO_LENGTH, js_direct_send, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "directSend", fn));
  CHECK(napi_create_function(env, "errorText", NAPI_AUTO_LENGTH, js_error_text, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "errorText", fn));
  CHECK(napi_create_function(env, "version", NAPI_AUTO_LENGTH, js_version, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "version", fn));
  return exports;
}
