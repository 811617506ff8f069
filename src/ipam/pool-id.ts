// A pool's ID (pure): the subnet, `#`, 8 random hex digits. RequestPool makes
// it; the protocol checks that a PoolID Docker sends back has this form.
import { randomBytes } from 'node:crypto';

const POOL_ID = /^[0-9a-f.:]{2,39}\/[0-9]{1,3}#[0-9a-f]{8}$/;

export const newPoolId = (cidr: string): string => `${cidr}#${randomBytes(4).toString('hex')}`;

export const isPoolId = (id: string): boolean => POOL_ID.test(id);
