/**
 * The listener: one dedicated connection (application_name pgcascade-listener) that
 * LISTENs for wake-ups and reads the audit trail. It reconnects forever with capped,
 * jittered backoff, catches up from its cursor after every reconnect, and notices a
 * half-open connection through a heartbeat with a timeout. NOTIFY is only a latency
 * hint: the audit trail is the feed, and reconciliation repairs whatever it misses.
 *
 * Wake-up protocol (see sql/core/001_capture.sql): while idle the listener holds
 * advisory lock IDLE_LOCK shared, so writers NOTIFY. Woken, it releases that lock and
 * drains by polling; writers then skip the NOTIFY. To go idle again it takes IDLE_LOCK,
 * waits until SKIP_LOCK is free (every writer that skipped has finished) and reads once
 * more, so nothing written while it drained can be left unread.
 */
import pg from 'pg';
import type { EventBus } from '../events';
import type { Logger } from '../logger';
import type { Applier } from './applier';
import { READ_SESSION_OPTIONS, type AuditCursor, type Queryable } from './audit-cursor';
import { SerialClient } from './serial-client';

/** The NOTIFY channel of the capture triggers. */
export const CHANNEL = 'pgcascade';
const IDLE_LOCK = 7013440002;
const SKIP_LOCK = 7013440003;

/** Options of {@link Listener}; every duration is in milliseconds. */
export interface ListenerOptions {
  connectionString: string;
  /** How often the heartbeat query runs. Default 2000. */
  heartbeatIntervalMs?: number;
  /** A heartbeat slower than this drops the connection. Default 3000. */
  heartbeatTimeoutMs?: number;
  /** Pause between reads while draining. Default 2. */
  drainPollMs?: number;
  /** Drain this long without new entries before going idle. Default 25. */
  idleAfterMs?: number;
  /** First reconnect delay. Default 100. */
  backoffMinMs?: number;
  /** Longest reconnect delay. Default 5000. */
  backoffMaxMs?: number;
}

type State = 'stopped' | 'connecting' | 'draining' | 'going-idle' | 'idle';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Payload of a wake-up: seq, written-at epoch ms, tags (absent when too large). */
interface WakePayload {
  s: number;
  c?: number;
  t?: string[];
}

function parsePayload(text: string): WakePayload | undefined {
  try {
    const value = JSON.parse(text) as WakePayload;
    if (!Number.isSafeInteger(value?.s)) return undefined;
    if (
      value.t !== undefined &&
      !(Array.isArray(value.t) && value.t.every((t) => typeof t === 'string'))
    ) {
      return undefined;
    }
    if (value.c !== undefined && typeof value.c !== 'number') return undefined;
    return value;
  } catch {
    return undefined;
  }
}

/** How the listener connects: it reads the audit trail every few ms while writes arrive. */
export function listenerClientConfig(connectionString: string): pg.ClientConfig {
  return {
    connectionString,
    application_name: 'pgcascade-listener',
    keepAlive: true,
    connectionTimeoutMillis: 5000,
    options: READ_SESSION_OPTIONS,
  };
}

/** Keeps the local cache in step with the audit trail through LISTEN/NOTIFY. */
export class Listener {
  private state: State = 'stopped';
  private client: pg.Client | undefined;
  private connectedClient: pg.Client | undefined;
  private serial: SerialClient | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lost: (() => void) | undefined;
  private catchUp = false;
  private waiting: Waiter[] = [];
  private polling = false;
  private wakeRequested = false;
  private reconnects = 0;
  private everConnected = false;
  private readonly options: Required<ListenerOptions>;

  constructor(
    options: ListenerOptions,
    private readonly cursor: AuditCursor,
    private readonly applier: Applier,
    private readonly fallback: Queryable,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {
    this.options = {
      heartbeatIntervalMs: 2000,
      heartbeatTimeoutMs: 3000,
      drainPollMs: 2,
      idleAfterMs: 25,
      backoffMinMs: 100,
      backoffMaxMs: 5000,
      ...options,
    };
  }

  /** Whether the listening connection is up. */
  get connected(): boolean {
    return this.connectedClient !== undefined;
  }

  /** Times the connection was re-established since start. */
  get reconnectCount(): number {
    return this.reconnects;
  }

  /** The listener's backend pid, for operators and tests (pg_terminate_backend). */
  get backendPid(): number | undefined {
    return (this.connectedClient as unknown as { processID?: number } | undefined)?.processID;
  }

  /** Connects (retrying) and resolves once the first connection listens. */
  async start(): Promise<void> {
    this.state = 'connecting';
    const first = this.bus.next('listener:connected');
    void this.connectLoop();
    await first;
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearInterval(this.heartbeat);
    const client = this.client;
    this.client = undefined;
    this.connectedClient = undefined;
    this.serial = undefined;
    this.lost?.();
    await client?.end().catch(() => undefined);
  }

  /**
   * Resolves once a read of the audit trail that started after this call has been
   * applied: every change committed before the call is then invalidated locally.
   * Reads on the pool when the listener is down.
   */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.polling) void this.runReads();
    });
  }

  private async runReads(): Promise<void> {
    this.polling = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting;
        this.waiting = [];
        try {
          await this.readAll();
          for (const w of batch) w.resolve();
        } catch (error) {
          for (const w of batch) w.reject(error);
        }
      }
    } finally {
      this.polling = false;
    }
  }

  private async readAll(): Promise<number> {
    const late = this.catchUp;
    const db = this.serial ?? this.fallback;
    let applied = 0;
    for (;;) {
      const { entries, more } = await this.cursor.read(db);
      for (const entry of entries) {
        if (this.applier.applyLive(entry, late)) applied++;
      }
      if (!more) break;
    }
    if (late && db !== this.fallback) this.catchUp = false;
    return applied;
  }

  private async connectLoop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped()) {
      try {
        const disconnected = await this.connect();
        attempt = 0;
        await disconnected;
      } catch (error) {
        this.log.warn({ err: error, attempt }, 'listener connection failed');
      }
      if (this.stopped()) return;
      // Full jitter between half and all of an exponentially growing, capped delay.
      const cap = Math.min(this.options.backoffMaxMs, this.options.backoffMinMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 20);
      await sleep(cap / 2 + (Math.random() * cap) / 2);
    }
  }

  /** Connects, listens, starts or catches up the cursor; resolves when the connection is lost. */
  private async connect(): Promise<Promise<void>> {
    this.state = 'connecting';
    const client = new pg.Client(listenerClientConfig(this.options.connectionString));
    this.client = client;
    const disconnected = new Promise<void>((resolve) => {
      let done = false;
      this.lost = () => {
        if (done) return;
        done = true;
        resolve();
      };
    });
    const drop = (reason: string) => this.onLost(client, reason);
    client.on('error', (error) => drop(error.message));
    client.on('end', () => drop('connection ended'));
    client.on('notification', (message) => {
      if (message.channel === CHANNEL) this.onNotification(message.payload ?? '');
    });

    await client.connect();
    // LISTEN before reading any state: a change committed after this is either notified
    // or visible to the first read below.
    await client.query(`listen ${CHANNEL}`);
    if (!this.cursor.started) {
      await this.cursor.start(client);
    } else {
      this.catchUp = true;
    }
    if (this.stopped() || this.client !== client) {
      await client.end().catch(() => undefined);
      return disconnected;
    }
    this.connectedClient = client;
    this.serial = new SerialClient(client);
    this.startHeartbeat(client, this.serial);
    const reconnect = this.everConnected;
    this.everConnected = true;
    if (reconnect) this.reconnects++;
    this.log.info({ reconnect, pid: this.backendPid }, 'listener connected');
    this.bus.emit('listener:connected', { reconnect });
    void this.drain(client, this.serial);
    return disconnected;
  }

  // A method, so that TypeScript does not narrow the state across awaits.
  private stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Gives up on a connection that has not failed by itself, and so reconnects. */
  private dropConnection(client: pg.Client, reason: string): void {
    this.onLost(client, reason);
    // A half-open TCP connection never errors by itself: cut it.
    const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } })
      .connection?.stream;
    stream?.destroy();
  }

  private onLost(client: pg.Client, reason: string): void {
    if (this.client !== client) return;
    const wasConnected = this.connectedClient === client;
    this.connectedClient = undefined;
    this.serial = undefined;
    this.client = undefined;
    clearInterval(this.heartbeat);
    client.end().catch(() => undefined);
    if (wasConnected && !this.stopped()) {
      this.state = 'connecting';
      this.log.warn({ reason }, 'listener connection lost');
      this.bus.emit('listener:disconnected', { reason });
    }
    this.lost?.();
  }

  // Checks often, queries only when the connection has been quiet for an interval: a
  // query that runs longer than the timeout (the heartbeat's or any other) means the
  // connection is gone even if TCP has not said so.
  private startHeartbeat(client: pg.Client, serial: SerialClient): void {
    clearInterval(this.heartbeat);
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = this.options;
    const tickMs = Math.max(10, Math.min(heartbeatIntervalMs, heartbeatTimeoutMs) / 3);
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      if (serial.busyForMs(now) > heartbeatTimeoutMs) {
        this.dropConnection(client, 'heartbeat timed out');
        return;
      }
      if (serial.queued === 0 && now - serial.lastDoneAt >= heartbeatIntervalMs) {
        serial.query('select 1').catch(() => undefined);
      }
    }, tickMs);
    this.heartbeat.unref();
  }

  private onNotification(text: string): void {
    const payload = parsePayload(text);
    if (!payload) {
      this.log.warn({ payload: text.slice(0, 200) }, 'ignored a malformed notification');
      this.bus.emit('listener:garbage', { payload: text });
      return;
    }
    if (payload.t) {
      this.applier.applyLive({
        seq: payload.s,
        xid: '',
        tags: payload.t,
        createdAtMs: payload.c ?? Date.now(),
      });
    } else {
      void this.sync().catch(() => undefined);
    }
    if (this.state === 'idle' && this.connectedClient && this.serial) {
      void this.drain(this.connectedClient, this.serial);
    } else {
      this.wakeRequested = true;
    }
  }

  /** Drains by polling until quiet, then goes idle without leaving anything unread. */
  private async drain(client: pg.Client, serial: SerialClient): Promise<void> {
    if (this.state === 'draining' || this.state === 'going-idle') return;
    const alive = () => this.connectedClient === client && this.state !== 'stopped';
    try {
      do {
        this.wakeRequested = false;
        this.state = 'draining';
        this.bus.emit('listener:draining', {});
        await serial.query('select pg_advisory_unlock_all()');
        let quietSince = Date.now();
        while (alive()) {
          const before = this.applier.appliedCount;
          await this.sync();
          if (this.wakeRequested || this.applier.appliedCount > before) {
            this.wakeRequested = false;
            quietSince = Date.now();
          }
          if (Date.now() - quietSince >= this.options.idleAfterMs) break;
          await sleep(this.options.drainPollMs);
        }
        if (!alive()) return;
        await this.goIdle(serial, alive);
      } while (alive() && this.wakeRequested);
    } catch (error) {
      if (!alive()) return;
      // A failed read or lock call leaves the protocol in an unknown state (writers may be
      // skipping NOTIFY for a drain that stopped): start over on a new connection.
      this.log.warn({ err: error }, 'listener drain failed; reconnecting');
      this.dropConnection(client, `drain failed: ${(error as Error).message}`);
    }
  }

  private async goIdle(client: SerialClient, alive: () => boolean): Promise<void> {
    this.state = 'going-idle';
    await client.query('select pg_advisory_lock_shared($1)', [IDLE_LOCK]);
    let pauseMs = this.options.drainPollMs;
    while (alive()) {
      const { rows } = await client.query('select pg_try_advisory_lock($1) as free', [SKIP_LOCK]);
      if (rows[0].free) {
        await client.query('select pg_advisory_unlock($1)', [SKIP_LOCK]);
        break;
      }
      // A writer that skipped its NOTIFY is still open; read what has committed meanwhile.
      await this.sync();
      await sleep(pauseMs);
      pauseMs = Math.min(pauseMs * 2, 50);
    }
    await this.sync();
    if (!alive()) return;
    this.state = 'idle';
    this.bus.emit('listener:idle', {});
  }
}
