import type { Command } from '@commander-js/extra-typings';
import { codecServerOptionsFromEnv, startCodecServer } from '../../codec-server';
import { examples, positiveIntArg } from '../options';

/** The port the local stack's codec server listens on (`MO_CODEC_PORT`). */
export const DEFAULT_CODEC_PORT = 18234;

/** `migrate codec-server`: opens and seals payloads for the Temporal Web UI and the stock CLI, until stopped. */
export function addCodecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description('serve POST /encode and /decode for the Temporal UI and `temporal --codec-endpoint` (token required)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', `port (default: MO_CODEC_PORT or ${DEFAULT_CODEC_PORT})`, positiveIntArg)
    .addHelpText(
      'after',
      examples([
        'MO_CODEC_KEYS_FILE=~/.config/migrate/codec-keys MO_CODEC_SERVER_TOKEN_FILE=~/.config/migrate/codec-token migrate codec-server',
        'temporal workflow show -w <id> --codec-endpoint http://127.0.0.1:18234 --codec-auth "Bearer $(cat ~/.config/migrate/codec-token)"',
      ]),
    )
    .action(async (o) => {
      const port = o.port ?? (Number(process.env.MO_CODEC_PORT) || DEFAULT_CODEC_PORT);
      const { server, url } = await startCodecServer({ ...codecServerOptionsFromEnv(), host: o.host, port });
      process.stdout.write(`codec server listening on ${url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
