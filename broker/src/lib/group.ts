/**
 * Group name → gid from the text of /etc/group, because Node has no getgrnam.
 *
 * Lines are `name:password:gid:members` (group(5)). Like glibc's `files` source, the first line with
 * the name wins, and blank lines, `#` comments, NIS `+`/`-` entries and lines whose gid is not a
 * decimal number are skipped. Groups that only NSS modules know (LDAP, SSSD) are not in the file:
 * the operator gives those as a numeric gid.
 */

/** gid_t is 32 bits and (gid_t)-1 means "leave unchanged" to chown(2), so it is not a group. */
export const MAX_GID = 4_294_967_294;

export function gidOfGroup(groupFileText: string, name: string): number | undefined {
  for (const line of groupFileText.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.replace(/\r$/, '').split(':');
    if (fields.length < 3 || fields[0] !== name) continue;
    const gid = fields[2]!;
    if (!/^[0-9]{1,10}$/.test(gid) || Number(gid) > MAX_GID) continue;
    return Number(gid);
  }
  return undefined;
}
