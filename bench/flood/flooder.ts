/**
 * A flooding client, run as its own process so that its work does not share the measuring
 * process's event loop: `node --import tsx bench/flood/flooder.ts <url> <sockets> <seconds>
 * <local address>`. Each socket sends join-room guesses as fast as its connection takes them and
 * reconnects when the server cuts it off. Prints one JSON line of what it sent and got back.
 */
import { PROTOCOL_VERSION, SIGNALING_EVENT } from '@cohort/protocol'
import { io, type Socket } from 'socket.io-client'

const [url, socketsArg, secondsArg, localAddress] = process.argv.slice(2)
if (!url || !socketsArg || !secondsArg || !localAddress) {
  console.error('usage: flooder.ts <url> <sockets> <seconds> <local address>')
  process.exit(2)
}
const until = Date.now() + Number(secondsArg) * 1000
const tally = {
  sent: 0,
  replies: {} as Record<string, number>,
  connects: 0,
  refusedConnects: 0,
  cutOff: 0,
}
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const guess = () =>
  Array.from({ length: 13 }, () => ALPHABET[Math.floor(Math.random() * 32)]).join('')

function flood(): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = io(
      url as string,
      {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        localAddress,
      } as Parameters<typeof io>[1],
    )
    let timer: ReturnType<typeof setImmediate> | undefined
    const done = () => {
      if (timer) clearImmediate(timer)
      socket.close()
      resolve()
    }
    socket.on('connect', () => {
      tally.connects++
      const burst = () => {
        if (Date.now() >= until) return done()
        // Up to 64 guesses waiting for the wire at once: as fast as the connection takes them.
        for (let i = 0; i < 20 && socket.sendBuffer.length === 0; i++) {
          tally.sent++
          socket
            .timeout(5_000)
            .emitWithAck(SIGNALING_EVENT, {
              type: 'join-room',
              protocolVersion: PROTOCOL_VERSION,
              room: guess(),
              role: 'device',
              label: 'flood',
            })
            .then(
              (reply: { code?: string; type: string }) => {
                const key = reply.code ?? reply.type
                tally.replies[key] = (tally.replies[key] ?? 0) + 1
              },
              () => {
                tally.replies.unanswered = (tally.replies.unanswered ?? 0) + 1
              },
            )
        }
        timer = setImmediate(burst)
      }
      burst()
    })
    socket.on('disconnect', (reason) => {
      if (reason === 'io server disconnect') tally.cutOff++
      done()
    })
    socket.on('connect_error', () => {
      tally.refusedConnects++
      // Refused: wait a little, as a script would, rather than spin.
      setTimeout(done, 50)
    })
  })
}

async function worker(): Promise<void> {
  while (Date.now() < until) await flood()
}

await Promise.all(Array.from({ length: Number(socketsArg) }, worker))
console.log(JSON.stringify(tally))
process.exit(0)
