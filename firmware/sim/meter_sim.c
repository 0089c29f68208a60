/*
 * meter_sim: runs the gridmeter firmware ELF in simavr as one emulated meter.
 *
 *   meter_sim [--speed F] [--eeprom FILE] [--v-gain-uv N] [--i-gain-ua N] firmware.elf
 *
 * UART0 goes to a pseudo-terminal through the runner's own bridge (not simavr's uart_pty,
 * which wedges): host bytes reach the UART one per frame time (10 bits at the baud rate the
 * firmware programmed into UBRR0), so a firmware that does not drain its receive buffer
 * loses bytes as a real Uno does (the core's 64-byte receive ring overflows); bytes arriving
 * while the receiver is off are lost, and so would be bytes simavr's UART queue cannot hold
 * (counted as overruns; pacing at simavr's own byte time keeps that queue near empty). The
 * host side is never refused: what the AVR cannot take yet waits in the bridge, and the
 * host's writes block (as on a serial line) once that backlog is full. The ADC sees a front end (mid-supply offset 512 counts,
 * gain in µV or µA per count: the factory calibration of PROTOCOL.md §5.4) fed with mains
 * waveforms evaluated at the simulated time of each conversion. The simulation is paced
 * to F × real time (F = 0: as fast as possible). Free ADC channels (2–5) float: they read
 * 512 counts plus a few counts of noise until a value is set for them.
 *
 * Control channel: commands on stdin, one per line; replies and events on stdout, each
 * starting with "@ " (other stdout lines come from simavr and are noise).
 *   set key=value...   v_rms i_rms phase_deg freq h3 h5 h7 (current harmonics, fraction of
 *                      the fundamental) v_h3 (voltage harmonic) adc2..adc5 (raw counts)
 *                      → "@ ok t=<simulated s when it took effect>"
 *   get time|relay|rx|tx|idle|uart|stack
 *                      → "@ time=<simulated s>", "@ relay=<0|1>", "@ rx=<simulated s
 *                      when the last byte from the host reached the UART>", "@ tx=<simulated s
 *                      when the AVR last wrote a byte to the UART>", "@ idle=<fraction
 *                      of cycles the CPU slept>", "@ uart=<bytes from host> <delivered>
 *                      <overrun> <dropped while off>", "@ stack=<lowest SP seen> <RAMEND>"
 *   speed F            → "@ ok"
 *   reset              → "@ ok" (a hardware reset; EEPROM is kept)
 *   save               → "@ ok" (writes the EEPROM file now)
 *   quit
 * Events: "@ pty=/dev/pts/N" once ready, "@ relay=<0|1> t=<s>" on every change.
 */
#define _GNU_SOURCE
#include <avr_adc.h>
#include <avr_extint.h>
#include <avr_eeprom.h>
#include <avr_ioport.h>
#include <avr_uart.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <math.h>
#include <pthread.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define F_CPU 16000000UL
#define RELAY_PORT 'D'
#define RELAY_BIT 7
#define TWO_PI 6.283185307179586

typedef struct {
  double v_rms, i_rms, phase_deg, freq, h3, h5, h7, v_h3;
  double adc[6];
} waveform_t;

static avr_t *avr;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static waveform_t pending, active;
static atomic_int have_pending, want_reset, want_save, want_quit, relay_state = -1;
static atomic_int want_time, want_idle;
static _Atomic double last_rx_time, last_tx_time;
static double speed = 1.0, pending_speed = -1;
static double v_gain = 0.635, i_gain = 0.048828;  // V, A per ADC count
static const char *eeprom_path;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&lock);
  fputs("@ ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&lock);
  va_end(ap);
}

static double sim_seconds(void) { return (double)avr->cycle / F_CPU; }

static int code(double volts_or_amps, double gain) {
  double c = floor(512.0 + volts_or_amps / gain + 0.5);
  return c < 0 ? 0 : c > 1023 ? 1023 : (int)c;
}

/* Instantaneous mains values at simulated time t. */
static double voltage_at(const waveform_t *w, double t) {
  double wt = TWO_PI * w->freq * t;
  return w->v_rms * M_SQRT2 * (sin(wt) + w->v_h3 * sin(3 * wt));
}

static double current_at(const waveform_t *w, double t) {
  if (relay_state == 0) return 0; /* relay open: no current flows */
  double wt = TWO_PI * w->freq * t - w->phase_deg * TWO_PI / 360.0;
  return w->i_rms * M_SQRT2 *
         (sin(wt) + w->h3 * sin(3 * wt) + w->h5 * sin(5 * wt) + w->h7 * sin(7 * wt));
}

/* A conversion starts: answer with the input at this simulated instant. The raw count
 * goes through unchanged because AVcc is set to 1023 "millivolts". */
static void adc_trigger(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  union {
    avr_adc_mux_t mux;
    uint32_t v;
  } e = {.v = value};
  if (e.mux.kind != ADC_MUX_SINGLE || e.mux.src > 5) return;
  double t = sim_seconds();
  int c;
  switch (e.mux.src) {
    case 0: c = code(voltage_at(&active, t), v_gain); break;
    case 1: c = code(current_at(&active, t), i_gain); break;
    default: c = (int)active.adc[e.mux.src];
  }
  avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + e.mux.src), c);
}

static void relay_changed(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  int closed = value ? 1 : 0;
  if (closed == relay_state) return;
  relay_state = closed;
  say("relay=%d t=%.6f", closed, sim_seconds());
}

/* ---- The pty bridge -------------------------------------------------------------------
 * Host → AVR: the bridge thread reads the pty master into `rx_ring` while it has room (so a
 * host writing faster than the line blocks, as on a serial port); a cycle timer in the
 * simulation thread moves one byte per frame time into the UART. AVR → host: every byte the
 * UART sends goes into `tx_ring`; the bridge thread writes it to the master. */
#define RING_BYTES 4096u
typedef struct {
  uint8_t buf[RING_BYTES];
  atomic_uint head, tail; /* head: next write; tail: next read; single producer/consumer */
} ring_t;

static ring_t rx_ring, tx_ring;
static int pty_master = -1, pty_slave = -1, wake_pipe[2] = {-1, -1};
static avr_uart_t *uart0;
static avr_irq_t *uart_in_irq;
static atomic_ulong rx_from_host, rx_delivered, rx_overrun, rx_dropped_off, tx_dropped;
static atomic_uint stack_low = 0xFFFF;
/* An `out SPH` leaves SP half-written (new high byte, old low byte) until the `out SPL`
 * two instructions later, with interrupts off meanwhile: avr-gcc's frame set-up and
 * __prologue_saves__ do this. A half-written SP is no stack use (crossing a 256-byte
 * boundary it reads as 256 bytes deeper), so SP is not sampled until SPL is written. */
static int sp_half_written;

static void track_sp_write(avr_t *avr, uint32_t pc) {
  uint16_t op = (uint16_t)(avr->flash[pc] | avr->flash[pc + 1] << 8);
  if ((op & 0xF800) != 0xB800) return; /* not OUT A, Rr */
  unsigned io = ((op >> 5) & 0x30) | (op & 0x0F);
  if (io + 0x20 == R_SPH) sp_half_written = 1;
  else if (io + 0x20 == R_SPL) sp_half_written = 0;
}

static unsigned ring_used(ring_t *r) { return r->head - r->tail; }
static int ring_put(ring_t *r, uint8_t b) {
  if (ring_used(r) >= RING_BYTES) return 0;
  r->buf[r->head % RING_BYTES] = b;
  atomic_fetch_add(&r->head, 1);
  return 1;
}
static int ring_get(ring_t *r, uint8_t *b) {
  if (ring_used(r) == 0) return 0;
  *b = r->buf[r->tail % RING_BYTES];
  atomic_fetch_add(&r->tail, 1);
  return 1;
}

/* Cycles per UART frame (start, 8 data, stop) at the baud rate the firmware set. */
static avr_cycle_count_t frame_cycles(void) {
  uint16_t ubrr = (uint16_t)(avr_regbit_get(avr, uart0->ubrrh) << 8 |
                             avr_regbit_get(avr, uart0->ubrrl));
  unsigned divisor = avr_regbit_get(avr, uart0->u2x) ? 8 : 16;
  avr_cycle_count_t frame = (avr_cycle_count_t)10 * divisor * (ubrr + 1u);
  /* simavr's UART lets the AVR read no faster than its own byte time: never outpace it. */
  return uart0->cycles_per_byte > frame ? uart0->cycles_per_byte : frame;
}

static avr_cycle_count_t uart_frame_tick(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)param;
  uint8_t b;
  if (ring_get(&rx_ring, &b)) {
    atomic_fetch_add(&rx_from_host, 1);
    if (!avr_regbit_get(a, uart0->rxen)) {
      atomic_fetch_add(&rx_dropped_off, 1); /* receiver off (before Serial.begin) */
    } else if (((uart0->input.write + 1u) & (uart_fifo_fifo_size - 1)) == uart0->input.read) {
      atomic_fetch_add(&rx_overrun, 1); /* simavr's UART queue is full: the byte is lost */
    } else {
      atomic_fetch_add(&rx_delivered, 1);
      last_rx_time = sim_seconds();
      avr_raise_irq(uart_in_irq, b);
    }
    if (ring_used(&rx_ring) < RING_BYTES / 2 && wake_pipe[1] >= 0) {
      char c = 0; /* let the bridge read more from the host */
      if (write(wake_pipe[1], &c, 1) < 0) { /* a full pipe already wakes it */ }
    }
  }
  return when + frame_cycles();
}

static void uart_sent(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  last_tx_time = sim_seconds();
  if (!ring_put(&tx_ring, (uint8_t)value)) atomic_fetch_add(&tx_dropped, 1);
  else if (ring_used(&tx_ring) == 1) {
    char c = 0;
    if (write(wake_pipe[1], &c, 1) < 0) { /* a full pipe already wakes it */ }
  }
}

static void *bridge_thread(void *arg) {
  (void)arg;
  uint8_t chunk[256];
  for (;;) {
    struct pollfd fds[2] = {{pty_master, 0, 0}, {wake_pipe[0], POLLIN, 0}};
    unsigned room = RING_BYTES - ring_used(&rx_ring);
    if (room > 0) fds[0].events |= POLLIN;
    if (ring_used(&tx_ring) > 0) fds[0].events |= POLLOUT;
    if (poll(fds, 2, 50) < 0 && errno != EINTR) return NULL;
    if (fds[1].revents & POLLIN) {
      char drain[64];
      if (read(wake_pipe[0], drain, sizeof drain) < 0) { /* nothing to drain */ }
    }
    if (room > 0 && (fds[0].revents & POLLIN)) {
      ssize_t n = read(pty_master, chunk, room < sizeof chunk ? room : sizeof chunk);
      for (ssize_t i = 0; i < n; ++i) ring_put(&rx_ring, chunk[i]);
    }
    unsigned pending_tx = ring_used(&tx_ring);
    if (pending_tx > 0) {
      unsigned n = 0;
      for (uint8_t b; n < sizeof chunk && n < pending_tx && ring_get(&tx_ring, &b);) chunk[n++] = b;
      ssize_t off = 0;
      while (off < (ssize_t)n) { /* the slave's buffer is full: the host is not reading */
        ssize_t w = write(pty_master, chunk + off, n - off);
        if (w < 0 && errno != EAGAIN && errno != EINTR) break;
        if (w < 0) {
          struct pollfd out = {pty_master, POLLOUT, 0};
          if (poll(&out, 1, 100) == 0) { /* a host that stopped reading loses the bytes */
            atomic_fetch_add(&tx_dropped, n - off);
            break;
          }
          continue;
        }
        off += w;
      }
    }
  }
  return NULL;
}

static const char *bridge_start(void) {
  for (avr_io_t *io = avr->io_port; io; io = io->next)
    if (io->kind && !strcmp(io->kind, "uart") && ((avr_uart_t *)io)->name == '0')
      uart0 = (avr_uart_t *)io;
  if (!uart0) return NULL;
  static char name[128];
  if (openpty(&pty_master, &pty_slave, name, NULL, NULL) != 0 || pipe(wake_pipe) != 0)
    return NULL;
  struct termios t;
  tcgetattr(pty_slave, &t);
  cfmakeraw(&t); /* no echo, no line editing: bytes as they are */
  tcsetattr(pty_slave, TCSANOW, &t);
  /* The runner keeps the slave open too, so the master never sees a hang-up while no
   * host has the port open. */
  fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);
  fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
  uart_in_irq = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                          uart_sent, NULL);
  pthread_t bridge;
  pthread_create(&bridge, NULL, bridge_thread, NULL);
  return name;
}

static void eeprom_io(int save) {
  if (!eeprom_path) return;
  avr_eeprom_desc_t d = {.ee = NULL, .offset = 0, .size = 0};
  avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d);
  if (!d.ee) return;
  size_t n = (size_t)avr->e2end + 1;
  if (!save) {
    FILE *f = fopen(eeprom_path, "rb");
    if (!f) return;
    size_t got = fread(d.ee, 1, n, f);
    if (got != 0 && got != n) fprintf(stderr, "meter_sim: short EEPROM file\n");
    fclose(f); /* an empty file: a fresh board */
    return;
  }
  /* private (it holds the meter's keys), and never half written: a new file renamed */
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", eeprom_path) >= (int)sizeof tmp) return;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return;
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    return;
  }
  int ok = fwrite(d.ee, 1, n, f) == n;
  ok = fclose(f) == 0 && ok;
  if (ok) rename(tmp, eeprom_path);
  else unlink(tmp);
}

static int set_field(waveform_t *w, const char *key, double v) {
  struct { const char *name; double *field; } fields[] = {
      {"v_rms", &w->v_rms}, {"i_rms", &w->i_rms}, {"phase_deg", &w->phase_deg},
      {"freq", &w->freq},   {"h3", &w->h3},       {"h5", &w->h5},
      {"h7", &w->h7},       {"v_h3", &w->v_h3},   {"adc2", &w->adc[2]},
      {"adc3", &w->adc[3]}, {"adc4", &w->adc[4]}, {"adc5", &w->adc[5]},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; ++i)
    if (!strcmp(key, fields[i].name)) {
      *fields[i].field = v;
      return 1;
    }
  return 0;
}

static void *control_thread(void *arg) {
  (void)arg;
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char *cmd = strtok(line, " \t\r\n");
    if (!cmd) continue;
    if (!strcmp(cmd, "set")) {
      pthread_mutex_lock(&lock);
      waveform_t w = pending;
      pthread_mutex_unlock(&lock);
      int ok = 1;
      for (char *kv; (kv = strtok(NULL, " \t\r\n"));) {
        char *eq = strchr(kv, '=');
        if (!eq) { ok = 0; break; }
        *eq = 0;
        if (!set_field(&w, kv, atof(eq + 1))) { ok = 0; break; }
      }
      if (!ok) { say("error bad set argument"); continue; }
      pthread_mutex_lock(&lock);
      pending = w;
      pthread_mutex_unlock(&lock);
      have_pending = 1; /* the simulation thread applies it and answers */
    } else if (!strcmp(cmd, "get")) {
      char *what = strtok(NULL, " \t\r\n");
      if (what && !strcmp(what, "time")) want_time = 1;
      else if (what && !strcmp(what, "relay")) say("relay=%d", relay_state < 0 ? 0 : relay_state);
      else if (what && !strcmp(what, "rx")) say("rx=%.6f", (double)last_rx_time);
      else if (what && !strcmp(what, "tx")) say("tx=%.6f", (double)last_tx_time);
      else if (what && !strcmp(what, "idle")) want_idle = 1;
      else if (what && !strcmp(what, "uart"))
        say("uart=%lu %lu %lu %lu", (unsigned long)rx_from_host, (unsigned long)rx_delivered,
            (unsigned long)rx_overrun, (unsigned long)rx_dropped_off);
      else if (what && !strcmp(what, "stack")) say("stack=%u %u", (unsigned)stack_low, avr->ramend);
      else say("error get what? time|relay|rx|tx|idle|uart|stack");
    } else if (!strcmp(cmd, "speed")) {
      char *v = strtok(NULL, " \t\r\n");
      pthread_mutex_lock(&lock);
      pending_speed = v ? atof(v) : 1.0;
      pthread_mutex_unlock(&lock);
      say("ok");
    } else if (!strcmp(cmd, "reset")) {
      want_reset = 1;
    } else if (!strcmp(cmd, "save")) {
      want_save = 1;
    } else if (!strcmp(cmd, "quit")) {
      break;
    } else {
      say("error unknown command %s", cmd);
    }
  }
  want_quit = 1;  /* stdin closed or quit: the bench is gone */
  return NULL;
}

/* simavr's default sleep callback usleep()s through every idle stretch; pacing is done in
 * the main loop instead, in 2 ms steps. */
static void skip_sleep(avr_t *a, avr_cycle_count_t how_long) {
  (void)a;
  (void)how_long;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const char *elf = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--speed") && i + 1 < argc) speed = atof(argv[++i]);
    else if (!strcmp(argv[i], "--eeprom") && i + 1 < argc) eeprom_path = argv[++i];
    else if (!strcmp(argv[i], "--v-gain-uv") && i + 1 < argc) v_gain = atof(argv[++i]) * 1e-6;
    else if (!strcmp(argv[i], "--i-gain-ua") && i + 1 < argc) i_gain = atof(argv[++i]) * 1e-6;
    else elf = argv[i];
  }
  if (!elf) {
    fprintf(stderr, "usage: meter_sim [--speed F] [--eeprom FILE] firmware.elf\n");
    return 2;
  }
  elf_firmware_t fw;
  memset(&fw, 0, sizeof fw);
  if (elf_read_firmware(elf, &fw) != 0) {
    fprintf(stderr, "meter_sim: cannot read %s\n", elf);
    return 2;
  }
  avr = avr_make_mcu_by_name("atmega328p");
  if (!avr) return 2;
  avr_init(avr);
  avr->frequency = F_CPU;
  avr_load_firmware(avr, &fw);
  avr->vcc = avr->aref = 5000;
  avr->avcc = 1023;
  avr->log = LOG_ERROR;
  avr->sleep = skip_sleep;
  /* simavr polls INT0/INT1 every cycle while D2/D3 are low unless told otherwise. */
  avr_extint_set_strict_lvl_trig(avr, 0, 0);
  avr_extint_set_strict_lvl_trig(avr, 1, 0);
  eeprom_io(0);

  memset(&pending, 0, sizeof pending);
  pending.v_rms = 230;
  pending.freq = 50;
  for (int ch = 2; ch < 6; ++ch) pending.adc[ch] = 512;
  active = pending;

  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER),
                          adc_trigger, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(RELAY_PORT), RELAY_BIT),
                          relay_changed, NULL);
  const char *pty = bridge_start();
  if (!pty) {
    fprintf(stderr, "meter_sim: cannot set up the UART bridge\n");
    return 2;
  }
  say("pty=%s", pty);

  pthread_t control;
  pthread_create(&control, NULL, control_thread, NULL);

  double wall0 = now_s();
  avr_cycle_count_t cycle0 = 0;
  avr_cycle_count_t asleep = 0; /* cycles the CPU spent in a sleep mode */
  for (unsigned n = 0;; ++n) {
    avr_cycle_count_t before = avr->cycle;
    int sleeping = avr->state == cpu_Sleeping;
    uint32_t pc0 = avr->pc;
    int state = avr_run(avr);
    track_sp_write(avr, pc0);
    unsigned sp = (unsigned)(avr->data[R_SPL] | avr->data[R_SPH] << 8);
    if (!sp_half_written && sp < stack_low && sp > 0x100) stack_low = sp; /* deepest stack (0x100: before init) */
    if (sleeping) asleep += avr->cycle - before;
    if (state == cpu_Done || state == cpu_Crashed) {
      fprintf(stderr, "meter_sim: firmware stopped (state %d)\n", state);
      break;
    }
    if (n & 1023) continue;
    if (have_pending) {
      pthread_mutex_lock(&lock);
      active = pending;
      pthread_mutex_unlock(&lock);
      have_pending = 0;
      say("ok t=%.6f", sim_seconds());
    }
    if (want_time) {
      want_time = 0;
      say("time=%.6f", sim_seconds());
    }
    if (want_idle) {
      want_idle = 0;
      say("idle=%.4f", avr->cycle ? (double)asleep / avr->cycle : 0.0);
    }
    if (want_reset) {
      want_reset = 0;
      avr_reset(avr);
      say("ok");
    }
    if (want_save) {
      want_save = 0;
      eeprom_io(1);
      say("ok");
    }
    if (want_quit) break;
    /* A reset (ours or the watchdog's) cancels cycle timers: restart the frame clock. */
    if (!avr_cycle_timer_status(avr, uart_frame_tick, NULL))
      avr_cycle_timer_register(avr, frame_cycles(), uart_frame_tick, NULL);
    pthread_mutex_lock(&lock);
    if (pending_speed >= 0) {
      speed = pending_speed;
      pending_speed = -1;
      wall0 = now_s();
      cycle0 = avr->cycle;
    }
    pthread_mutex_unlock(&lock);
    if (speed > 0) {
      double ahead = (double)(avr->cycle - cycle0) / F_CPU / speed - (now_s() - wall0);
      if (ahead > 0.002) {
        struct timespec ts = {0, (long)(ahead * 1e9)};
        nanosleep(&ts, NULL);
      } else if (ahead < -0.5) { /* cannot keep up: do not try to catch up in a burst */
        wall0 = now_s();
        cycle0 = avr->cycle;
      }
    }
  }
  eeprom_io(1);
  fflush(stdout);
  _exit(0); /* the bridge thread blocks in poll(); no need to join it */
}
