// User-facing strings of the Bidroom UI, in Simplified Chinese (default)
// and English. Every string a person reads on a page comes from here.

const STORAGE_KEY = 'bidroom.lang';

export const LANGS = ['zh-CN', 'en'];

const table = {
  'zh-CN': {
    'app.tagline': '不见面开标',

    'landing.title': 'Bidroom 不见面开标大厅',
    'landing.intro':
      'Bidroom 是公共资源交易中心的远程开标服务：投标人在自己的办公室里签到、观看开标直播、远程解密投标文件；' +
      '主持人在同一个房间里主持开标、发布公告；监督人实时看到全过程。开标前，投标人之间互不知晓名单（投标人名单保密）。' +
      '所有操作都记录在不可篡改的事件日志中。',
    'landing.demo.title': '演示场次',
    'landing.demo.hint': '这是服务器启动时创建的演示场次。请选择一个身份进入开标室（评标专家进入评标室视频会商）；可以在不同的浏览器窗口中以不同身份进入，观察各自看到的内容。',
    'landing.demo.enterAs': '以 {name} 身份进入',
    'landing.demo.room': '场次编号：{room}',
    'landing.demo.keyHint': '投标人须用私钥签到：进入前请先下载该投标人的示例密钥，签到时在页面中选择它。示例密钥：仅用于演示；真实场次的私钥只在投标人自己手中，服务器从不保存。',
    'landing.demo.key': '下载示例密钥',
    'landing.demo.keyTitle': '{name} 的示例私钥（仅用于演示）',
    'landing.loading': '正在查询演示场次…',
    'landing.manual.title': '使用令牌进入开标室',
    'landing.manual.hint': '请粘贴交易中心发给您的场次编号和访问令牌。令牌只保存在本页面地址的 # 之后，不会发送到服务器日志。',
    'landing.manual.room': '场次编号',
    'landing.manual.token': '访问令牌',
    'landing.manual.submit': '进入开标室',
    'landing.manual.missing': '请填写场次编号和访问令牌。',

    'role.bidder': '投标人',
    'role.host': '主持人',
    'role.supervisor': '监督人',
    'role.expert': '评标专家',
    'role.admin': '管理员',
    'role.system': '系统',

    'category.construction': '建设工程',
    'category.procurement': '政府采购',
    'category.land': '土地',
    'category.mining': '矿业权',
    'category.state_property': '国有产权',

    'phase.': '加载中',
    'phase.scheduled': '待开始',
    'phase.check_in': '签到中',
    'phase.opened': '已开标',
    'phase.decrypting': '解密中',
    'phase.decryption_closed': '解密结束',

    'conn.idle': '未连接',
    'conn.connecting': '连接中',
    'conn.live': '实时',
    'conn.reconnecting': '重新连接中',
    'conn.error': '错误',
    'conn.retryIn': '{s} 秒后重试',
    'conn.resumed': '已重新连接，补齐 {n} 条更新',
    'conn.resumedNone': '已重新连接',
    'conn.snapshot': '已重新载入最新状态',
    'conn.retry': '重试',
    'conn.stale': '连接已中断，页面显示的可能不是最新情况，正在重新连接…',

    'room.back': '返回首页',
    'room.section': '标段编号',
    'room.controlPrice': '最高限价',
    'room.deadline': '开标时间',
    'room.checkInAt': '签到开始',
    'room.tz': '北京时间',
    'room.atTz': '{time}（北京时间）',
    'room.yuan': '元',
    'room.countdown.toOpening': '距开标',
    'room.countdown.toCheckIn': '距签到开始',
    'room.countdown.due': '开标时间已到，等待系统开标…',
    'room.countdown.openedAt': '开标于',
    'room.countdown.days': '{d} 天 ',
    'room.clock': '服务器时间校准偏差 {ms} 毫秒',
    'room.countdown.toDecryptEnd': '距解密结束',
    'room.countdown.decryptEndUnknown': '解密进行中',
    'room.countdown.decryptDue': '解密时间已到，等待系统结束解密…',
    'room.countdown.decryptClosed': '解密结束于',
    'room.decryptEndsAt': '截止',

    'you.title': '我的身份',
    'you.signedIn': '已签到',
    'you.signedInAt': '已于 {time} 签到',
    'you.notSignedIn': '未签到',
    'you.signIn': '签到',
    'you.signInClosed': '签到尚未开始',

    'bidders.title': '投标人',
    'bidders.registered': '已登记 {n} 家',
    'bidders.registeredHidden': '家数开标后公布',
    'bidders.secret': '开标前投标人名单保密：您只能看到自己的信息，开标后公布全部投标人名称。',
    'bidders.empty': '暂无投标人',
    'bidders.me': '（本单位）',
    'staff.me': '（本人）',
    'bidders.signedIn': '已签到',
    'bidders.notSignedIn': '未签到',
    'bidders.online': '在线',
    'bidders.offline': '离线',
    'bidders.signedCount': '已签到 {n} 家',

    'staff.title': '工作人员',
    'staff.empty': '暂无工作人员签到',

    'ann.title': '公告',
    'ann.empty': '暂无公告',
    'ann.placeholder': '输入要发布给全体参会人员的公告…',
    'ann.send': '发布公告',
    'ann.emptyText': '请输入公告内容。',

    'cmd.sign_in': '签到',
    'cmd.announce': '发布公告',
    'cmd.start_decryption': '开始解密',
    'cmd.sending': '正在提交：{what}…',
    'cmd.ok': '{what}成功',
    'cmd.duplicate': '{what}成功（重复提交，服务器只处理一次）',
    'cmd.noop': '{what}：无需重复操作',
    'cmd.failed': '{what}失败：{message}',
    'cmd.queued': '{what}：连接恢复后自动提交',
    'server.error': '服务器提示：{message}',

    'err.noToken': '链接中缺少场次编号或访问令牌，请从首页重新进入。',
    'err.auth': '无法进入开标室：{message}',
    'err.gone': '无法载入开标室：{message}',

    'decrypt.start': '开始解密',
    'decrypt.confirmTitle': '开始解密？',
    'decrypt.confirmText': '开始后各投标人须在解密时间内远程解密各自的投标文件，此操作不可撤销。确定开始解密吗？',
    'decrypt.progress': '已解密 {n} / {of} 份',
    'decrypt.pending': '未解密',
    'decrypt.none': '未递交投标文件',
    'decrypt.opened': '已解密 · {price}',
    'decrypt.failed': '解密失败（{n} 次）',
    'decrypt.failedCode': '解密失败：{code}',
    'dialog.ok': '确定',
    'dialog.cancel': '取消',

    'mybid.title': '我的投标文件',
    'mybid.held': '已递交投标文件（第 {version} 版），开标前可重新递交或撤回',
    'mybid.noneYet': '尚未递交投标文件：请在开标前使用投标工具（bidtool）递交',
    'mybid.none': '本场次没有您递交的投标文件',
    'mybid.waiting': '已开标，请等待主持人开始解密',
    'mybid.decryptNow': '解密已开始：请选择您的私钥文件，在本机解密投标文件',
    'mybid.retry': '尚未解密成功（已尝试 {n} 次），请重试',
    'mybid.closedUnopened': '解密时间已结束，您的投标文件未能解密',
    'mybid.opened': '投标文件已解密',
    'mybid.version': '第 {version} 版',
    'mybid.digest': '摘要',
    'mybid.receivedAt': '递交于 {time}',

    'unlock.key': '私钥文件（.pem，只在本机使用，不会上传）',
    'unlock.password': '私钥密码（如有）',
    'unlock.button': '解密',
    'unlock.choose': '选择私钥文件',
    'unlock.noFile': '未选择文件',
    'unlock.loading': '加载解密组件…',
    'unlock.working': '解密中…',
    'unlock.err.no_file': '请先选择私钥文件。',
    'unlock.err.too_big': '所选文件过大，不是私钥文件。',
    'unlock.err.bad_key': '无法读取私钥：请确认选择的是 PEM 格式的私钥文件；私钥有密码时请输入正确的密码。',
    'unlock.err.wrong_key': '私钥与投标文件不匹配：请选择加密投标文件时使用的私钥。',
    'unlock.err.bad_challenge': '服务器返回的解密数据有误，请重试；仍不成功请联系交易中心。',
    'unlock.err.bad_exchange': '解密数据交换失败，请重试。',
    'unlock.err.corrupted': '服务器保存的投标文件校验失败，无法解密，请立即联系交易中心。',
    'unlock.err.wrong_state': '当前不在解密时间内，或投标文件已解密。',
    'unlock.err.not_found': '没有找到您的投标文件。',
    'unlock.err.server_error': '服务器解密出错，请稍后重试。',
    'unlock.err.network': '网络连接失败，请检查网络后重试。',
    'unlock.err.load_failed': '解密组件加载失败，请检查网络后重试。',
    'unlock.err.unauthorized': '访问令牌无效或已过期，请从交易中心重新获取链接。',
    'unlock.err.other': '解密失败（{code}）：{message}',
    'keysignin.note': '请用登记的私钥签名签到。私钥只在本机浏览器中使用，不会上传。',
    'keysignin.key': '私钥文件（.pem）',
    'keysignin.button': '签名并签到',
    'keysignin.loading': '加载签名组件…',
    'keysignin.working': '正在签名…',
    'keysignin.done': '签到成功：已用私钥完成签名验证',
    'keysignin.err.no_file': '请先选择私钥文件。',
    'keysignin.err.too_big': '所选文件过大，不是私钥文件。',
    'keysignin.err.bad_key': '无法读取私钥：请选择 PEM 格式的私钥文件（不是公钥或证书）。',
    'keysignin.err.wrong_password': '私钥密码错误：该私钥已加密，请输入正确的密码。',
    'keysignin.err.bad_signature': '私钥与登记的公钥不匹配：请选择交易中心为您登记的私钥。',
    'keysignin.err.expired_challenge': '签到验证码已过期，请再点一次“签名并签到”。',
    'keysignin.err.bad_challenge': '服务器返回的签到验证码有误，请刷新页面后重试。',
    'keysignin.err.no_key': '交易中心未为您登记公钥，无需私钥签到；请联系交易中心。',
    'keysignin.err.wrong_state': '当前不能签到：签到尚未开始或已经结束。',
    'keysignin.err.network': '网络连接失败，请检查网络后重试。',
    'keysignin.err.load_failed': '签名组件加载失败，请检查网络后重试。',
    'keysignin.err.unauthorized': '访问令牌无效或已过期，请从交易中心重新获取链接。',
    'keysignin.err.server_error': '服务器出错，请稍后重试。',
    'keysignin.err.other': '签到失败（{code}）：{message}',

    'sheet.title': '开标一览表',
    'sheet.price': '投标价格',
    'sheet.duration': '工期',
    'sheet.quality': '质量',
    'sheet.project_manager': '项目经理',
    'sheet.digest': '解密后文件摘要 {digest}（{size}）',

    'live.title': '现场直播',
    'live.camera': '开启摄像头',
    'live.screen': '共享屏幕',
    'live.stop': '停止直播',
    'live.status.off': '未开播',
    'live.status.starting': '正在开播…',
    'live.status.onAir': '直播中',
    'live.status.waiting': '等待主持人开播…',
    'live.status.live': '直播中',
    'live.status.reconnecting': '重新连接…',
    'live.stats': '观看 {viewers} 人 · 转发 {kbps} kbps · 丢包 {loss}% · NACK {nacks} · PLI {plis}',
    'live.note.host': '开播后，画面实时推送给所有投标人和监督人。',
    'live.note.viewer': '主持人开播后画面会自动出现，无需任何操作。',
    'live.err.device': '无法使用摄像头或屏幕：{message}',
    'live.err.publish': '开播失败（{code}）：{message}',
    'live.err.unsupported': '此浏览器不支持视频直播，请使用新版 Chrome、Edge 或 Firefox。',
    'live.ended': '直播已停止。',
    'live.err.denied': '无法观看直播：{message}',
    'call.title': '评标室视频会商',
    'call.join': '加入会商',
    'call.joining': '正在加入…',
    'call.rejoin': '重新加入',
    'call.leave': '离开会商',
    'call.micOff': '关闭麦克风',
    'call.micOn': '打开麦克风',
    'call.camOff': '关闭摄像头',
    'call.camOn': '打开摄像头',
    'call.soundOn': '开启声音',
    'call.soundOff': '关闭声音',
    'call.me': '（我）',
    'call.count': '{n} 位专家在会商中',
    'call.status.out': '未加入',
    'call.status.joining': '正在加入…',
    'call.status.rejoining': '重新连接…',
    'call.status.connecting': '连接中…',
    'call.status.waiting': '等待专家加入',
    'call.status.live': '会商中',
    'call.status.reconnecting': '重新连接…',
    'call.status.error': '无法进入',
    'call.tile.connecting': '连接中…',
    'call.tile.waiting': '等待画面…',
    'call.tile.live': '● 实时',
    'call.tile.reconnecting': '连接中断，正在重连…',
    'call.tile.denied': '无法观看：{message}',
    'call.tile.sending': '● 我的画面',
    'call.flag.micOff': '麦克风已关闭',
    'call.flag.camOff': '摄像头已关闭',
    'call.empty.expert': '正在等待其他专家加入，他们加入后画面会自动出现。',
    'call.empty.watch': '还没有专家加入会商，专家加入后画面会自动出现。',
    'call.note.expert': '加入后，其他评标专家和监督人能看到并听到您；投标人看不到评标室。',
    'call.note.in': '您已加入会商：其他评标专家和监督人能看到并听到您。',
    'call.note.watch': '您正在旁观评标专家的视频会商：只能观看，不能发言。',
    'call.left': '您已离开会商，可随时重新加入。',
    'call.reconnecting': '与服务器的连接中断，正在重新加入…',
    'call.err.device': '无法打开摄像头或麦克风：{message}',
    'call.device.denied': '浏览器未获准使用摄像头和麦克风，请在地址栏中允许后重试',
    'call.device.none': '没有找到摄像头或麦克风',
    'call.device.busy': '摄像头或麦克风正被其他程序占用',
    'call.err.publish': '无法加入会商：{message}',
    'call.err.retrying': '暂时无法加入会商（{message}），3 秒后重试…',
    'call.err.denied': '无法进入评标室：{message}',
    'call.err.roster': '暂时无法获取会商名单，正在重试…',
    'call.err.unsupported': '此浏览器不支持视频会商，请使用新版 Chrome、Edge 或 Firefox。',
  },

  en: {
    'app.tagline': 'Remote bid opening',

    'landing.title': 'Bidroom remote bid opening',
    'landing.intro':
      'Bidroom runs remote ("no-meet") bid openings for public-resource trading centers: bidders sign in from their ' +
      'own offices, watch the opening live and decrypt their bids remotely; the host runs the session and makes ' +
      'announcements in the same room; supervisors see everything as it happens. Before the opening, bidders cannot ' +
      'see who else is bidding. Every step is recorded in a tamper-evident event log.',
    'landing.demo.title': 'Demo session',
    'landing.demo.hint': 'This server created a demo session at start. Pick an identity to enter the opening room (experts get the evaluation call); open several windows with different identities to compare what each one sees.',
    'landing.demo.enterAs': 'Enter as {name}',
    'landing.demo.room': 'Session: {room}',
    'landing.demo.keyHint': 'Bidders sign in with their private key: download the bidder’s demo key before entering, then choose it when signing in. Demo keys are for the demo only; in a real session the private key stays with the bidder and the server never holds it.',
    'landing.demo.key': 'Demo key',
    'landing.demo.keyTitle': 'Demo private key of {name} (demo only)',
    'landing.loading': 'Looking for a demo session…',
    'landing.manual.title': 'Enter with an access token',
    'landing.manual.hint': 'Paste the session id and access token you received from the trading center. The token stays after the # in this page address and never reaches the server logs.',
    'landing.manual.room': 'Session id',
    'landing.manual.token': 'Access token',
    'landing.manual.submit': 'Enter the room',
    'landing.manual.missing': 'Please fill in the session id and the access token.',

    'role.bidder': 'Bidder',
    'role.host': 'Host',
    'role.supervisor': 'Supervisor',
    'role.expert': 'Expert',
    'role.admin': 'Admin',
    'role.system': 'System',

    'category.construction': 'Construction',
    'category.procurement': 'Government procurement',
    'category.land': 'Land',
    'category.mining': 'Mining rights',
    'category.state_property': 'State-owned property',

    'phase.': 'Loading',
    'phase.scheduled': 'Scheduled',
    'phase.check_in': 'Check-in',
    'phase.opened': 'Opened',
    'phase.decrypting': 'Decrypting',
    'phase.decryption_closed': 'Decryption closed',

    'conn.idle': 'Not connected',
    'conn.connecting': 'Connecting',
    'conn.live': 'Live',
    'conn.reconnecting': 'Reconnecting',
    'conn.error': 'Error',
    'conn.retryIn': 'retrying in {s} s',
    'conn.resumed': 'Reconnected; caught up on {n} updates',
    'conn.resumedNone': 'Reconnected',
    'conn.snapshot': 'Reloaded the latest state',
    'conn.retry': 'Retry',
    'conn.stale': 'Connection lost: what you see may be out of date. Reconnecting…',

    'room.back': 'Home',
    'room.section': 'Section',
    'room.controlPrice': 'Control price',
    'room.deadline': 'Opening time',
    'room.checkInAt': 'Check-in opens',
    'room.tz': 'Beijing time',
    'room.atTz': '{time} (Beijing time)',
    'room.yuan': 'yuan',
    'room.countdown.toOpening': 'Opening in',
    'room.countdown.toCheckIn': 'Check-in opens in',
    'room.countdown.due': 'The opening time has come; waiting for the system to open…',
    'room.countdown.openedAt': 'Opened at',
    'room.countdown.days': '{d} d ',
    'room.clock': 'Clock corrected to the server within {ms} ms',
    'room.countdown.toDecryptEnd': 'Decryption closes in',
    'room.countdown.decryptEndUnknown': 'Decryption in progress',
    'room.countdown.decryptDue': 'The decryption window is over; waiting for the system to close it…',
    'room.countdown.decryptClosed': 'Decryption closed at',
    'room.decryptEndsAt': 'closes at',

    'you.title': 'You',
    'you.signedIn': 'Signed in',
    'you.signedInAt': 'Signed in at {time}',
    'you.notSignedIn': 'Not signed in',
    'you.signIn': 'Sign in',
    'you.signInClosed': 'Check-in has not started',

    'bidders.title': 'Bidders',
    'bidders.registered': '{n} registered',
    'bidders.registeredHidden': 'count published at the opening',
    'bidders.secret': 'Bidder list is confidential until the opening: you see only your own record; all names are published when the bids are opened.',
    'bidders.empty': 'No bidders yet',
    'bidders.me': ' (you)',
    'staff.me': ' (you)',
    'bidders.signedIn': 'Signed in',
    'bidders.notSignedIn': 'Not signed in',
    'bidders.online': 'Online',
    'bidders.offline': 'Offline',
    'bidders.signedCount': '{n} signed in',

    'staff.title': 'Staff',
    'staff.empty': 'No staff signed in yet',

    'ann.title': 'Announcements',
    'ann.empty': 'No announcements yet',
    'ann.placeholder': 'Type an announcement for everyone in the room…',
    'ann.send': 'Announce',
    'ann.emptyText': 'Please type the announcement.',

    'cmd.sign_in': 'Sign-in',
    'cmd.announce': 'Announcement',
    'cmd.start_decryption': 'Start of decryption',
    'cmd.sending': 'Sending: {what}…',
    'cmd.ok': '{what} done',
    'cmd.duplicate': '{what} done (sent again; the server applied it once)',
    'cmd.noop': '{what}: nothing to change',
    'cmd.failed': '{what} failed: {message}',
    'cmd.queued': '{what}: will be sent when the connection is back',
    'server.error': 'Server says: {message}',

    'err.noToken': 'This link has no session id or access token. Please enter again from the home page.',
    'err.auth': 'Cannot enter the room: {message}',
    'err.gone': 'Cannot load the room: {message}',

    'decrypt.start': 'Start decryption',
    'decrypt.confirmTitle': 'Start the decryption?',
    'decrypt.confirmText': 'Once started, each bidder must decrypt their bid remotely within the decryption window. This cannot be undone. Start now?',
    'decrypt.progress': '{n} of {of} bids decrypted',
    'decrypt.pending': 'Not decrypted',
    'decrypt.none': 'No bid',
    'decrypt.opened': 'Decrypted · {price}',
    'decrypt.failed': 'Failed ({n} tries)',
    'decrypt.failedCode': 'Failed: {code}',
    'dialog.ok': 'OK',
    'dialog.cancel': 'Cancel',

    'mybid.title': 'My bid',
    'mybid.held': 'Bid submitted (version {version}); you may replace or withdraw it before the opening',
    'mybid.noneYet': 'No bid submitted yet: submit it with bidtool before the opening',
    'mybid.none': 'You have no bid in this session',
    'mybid.waiting': 'The bids are opened; waiting for the host to start the decryption',
    'mybid.decryptNow': 'Decryption has started: choose your private key file to decrypt your bid on this computer',
    'mybid.retry': 'Not decrypted yet ({n} tries); please try again',
    'mybid.closedUnopened': 'The decryption window has closed; your bid was not decrypted',
    'mybid.opened': 'Your bid is decrypted',
    'mybid.version': 'Version {version}',
    'mybid.digest': 'Digest',
    'mybid.receivedAt': 'received {time}',

    'unlock.key': 'Private key file (.pem; used on this computer only, never uploaded)',
    'unlock.password': 'Key password (if any)',
    'unlock.button': 'Decrypt',
    'unlock.choose': 'Choose key file',
    'unlock.noFile': 'No file chosen',
    'unlock.loading': 'Loading the decryption module…',
    'unlock.working': 'Decrypting…',
    'unlock.err.no_file': 'Please choose your private key file first.',
    'unlock.err.too_big': 'That file is too large to be a private key.',
    'unlock.err.bad_key': 'Cannot read the private key: choose a PEM private key file, and type its password if it has one.',
    'unlock.err.wrong_key': 'This private key does not match your bid: choose the key the bid was sealed with.',
    'unlock.err.bad_challenge': 'The server sent malformed decryption data; please retry, or contact the trading center.',
    'unlock.err.bad_exchange': 'The key exchange failed; please retry.',
    'unlock.err.corrupted': 'The stored bid fails verification and cannot be decrypted; contact the trading center now.',
    'unlock.err.wrong_state': 'Bids cannot be decrypted now, or yours is already decrypted.',
    'unlock.err.not_found': 'No bid of yours was found.',
    'unlock.err.server_error': 'The server failed to decrypt; please retry shortly.',
    'unlock.err.network': 'Network error; check your connection and retry.',
    'unlock.err.load_failed': 'The decryption module failed to load; check your connection and retry.',
    'unlock.err.unauthorized': 'Your access token is invalid or expired; ask the trading center for a new link.',
    'unlock.err.other': 'Decryption failed ({code}): {message}',
    'keysignin.note': 'Sign in by signing with your registered private key. The key is used in this browser only and never uploaded.',
    'keysignin.key': 'Private key file (.pem)',
    'keysignin.button': 'Sign and sign in',
    'keysignin.loading': 'Loading the signing module…',
    'keysignin.working': 'Signing…',
    'keysignin.done': 'Signed in: your key signature was verified',
    'keysignin.err.no_file': 'Please choose your private key file first.',
    'keysignin.err.too_big': 'That file is too large to be a private key.',
    'keysignin.err.bad_key': 'Cannot read the private key: choose a PEM private key file (not a public key or certificate).',
    'keysignin.err.wrong_password': 'Wrong password: this private key is encrypted; type its password.',
    'keysignin.err.bad_signature': 'This key does not match the public key registered for you: choose the private key the trading center registered.',
    'keysignin.err.expired_challenge': 'The sign-in challenge expired; click “Sign and sign in” again.',
    'keysignin.err.bad_challenge': 'The server sent a malformed sign-in challenge; reload the page and retry.',
    'keysignin.err.no_key': 'No public key is registered for you, so no key sign-in is needed; contact the trading center.',
    'keysignin.err.wrong_state': 'Sign-in is not possible now: it has not opened yet or is over.',
    'keysignin.err.network': 'Network error; check your connection and retry.',
    'keysignin.err.load_failed': 'The signing module failed to load; check your connection and retry.',
    'keysignin.err.unauthorized': 'Your access token is invalid or expired; ask the trading center for a new link.',
    'keysignin.err.server_error': 'Server error; please retry shortly.',
    'keysignin.err.other': 'Sign-in failed ({code}): {message}',

    'sheet.title': 'Opening sheet',
    'sheet.price': 'Price',
    'sheet.duration': 'Duration',
    'sheet.quality': 'Quality',
    'sheet.project_manager': 'Project manager',
    'sheet.digest': 'Decrypted file digest {digest} ({size})',

    'live.title': 'Live',
    'live.camera': 'Start camera',
    'live.screen': 'Share screen',
    'live.stop': 'Stop live',
    'live.status.off': 'Not live',
    'live.status.starting': 'Going live…',
    'live.status.onAir': 'On air',
    'live.status.waiting': 'Waiting for the host to go live…',
    'live.status.live': 'Live',
    'live.status.reconnecting': 'Reconnecting…',
    'live.stats': '{viewers} viewers · egress {kbps} kbps · loss {loss}% · NACKs {nacks} · PLIs {plis}',
    'live.note.host': 'Once live, your video goes to every bidder and the supervisor.',
    'live.note.viewer': 'The video appears by itself when the host goes live.',
    'live.err.device': 'Cannot use the camera or screen: {message}',
    'live.err.publish': 'Could not go live ({code}): {message}',
    'live.err.unsupported': 'This browser cannot play live video; use a recent Chrome, Edge or Firefox.',
    'live.ended': 'The live video has stopped.',
    'live.err.denied': 'Cannot watch the live video: {message}',
    'call.title': 'Evaluation call',
    'call.join': 'Join the call',
    'call.joining': 'Joining…',
    'call.rejoin': 'Rejoin',
    'call.leave': 'Leave the call',
    'call.micOff': 'Mute',
    'call.micOn': 'Unmute',
    'call.camOff': 'Camera off',
    'call.camOn': 'Camera on',
    'call.soundOn': 'Turn sound on',
    'call.soundOff': 'Turn sound off',
    'call.me': ' (me)',
    'call.count': '{n} experts in the call',
    'call.status.out': 'Not joined',
    'call.status.joining': 'Joining…',
    'call.status.rejoining': 'Reconnecting…',
    'call.status.connecting': 'Connecting…',
    'call.status.waiting': 'Waiting for experts',
    'call.status.live': 'In call',
    'call.status.reconnecting': 'Reconnecting…',
    'call.status.error': 'No access',
    'call.tile.connecting': 'Connecting…',
    'call.tile.waiting': 'Waiting for video…',
    'call.tile.live': '● Live',
    'call.tile.reconnecting': 'Connection lost, reconnecting…',
    'call.tile.denied': 'Cannot watch: {message}',
    'call.tile.sending': '● My video',
    'call.flag.micOff': 'Muted',
    'call.flag.camOff': 'Camera off',
    'call.empty.expert': 'Waiting for the other experts; their video appears by itself when they join.',
    'call.empty.watch': 'No expert has joined yet; their video appears by itself when they do.',
    'call.note.expert': 'Once you join, the other experts and the supervisors see and hear you; bidders never see the evaluation room.',
    'call.note.in': 'You are in the call: the other experts and the supervisors see and hear you.',
    'call.note.watch': 'You are watching the experts\' call: view only.',
    'call.left': 'You have left the call; you may rejoin at any time.',
    'call.reconnecting': 'Lost the connection to the server; rejoining…',
    'call.err.device': 'Cannot open the camera or microphone: {message}',
    'call.device.denied': 'the browser was not allowed to use them; allow it in the address bar and try again',
    'call.device.none': 'no camera or microphone found',
    'call.device.busy': 'another program is using the camera or microphone',
    'call.err.publish': 'Cannot join the call: {message}',
    'call.err.retrying': 'Cannot join the call just now ({message}); retrying in 3 s…',
    'call.err.denied': 'Cannot enter the evaluation room: {message}',
    'call.err.roster': 'Cannot read who is in the call just now; retrying…',
    'call.err.unsupported': 'This browser cannot take part in video calls; use a recent Chrome, Edge or Firefox.',
  },
};

let current = pickInitial();

function pickInitial() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch {
    // localStorage may be unavailable (privacy mode); fall back to the default.
  }
  return 'zh-CN';
}

/** lang returns the language in use. */
export function lang() {
  return current;
}

/** t returns the string for key in the current language, with {name} placeholders filled from params. */
export function t(key, params = {}) {
  const s = table[current][key] ?? table['zh-CN'][key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

const listeners = [];

/** onLangChange registers fn to run after the language changes. */
export function onLangChange(fn) {
  listeners.push(fn);
}

/** setLang switches the language, remembers it, and re-renders. */
export function setLang(l) {
  if (!LANGS.includes(l)) return;
  current = l;
  try {
    localStorage.setItem(STORAGE_KEY, l);
  } catch {
    // Not remembered; the switch still applies to this page.
  }
  applyStatic();
  for (const fn of listeners) fn();
}

/**
 * applyStatic fills every element carrying data-i18n (text) or
 * data-i18n-placeholder (placeholder) and marks the active language button.
 */
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-lang]')) {
    const on = el.dataset.lang === current;
    el.setAttribute('aria-pressed', String(on));
    el.classList.toggle('active', on);
  }
}

/** wireLangSwitch connects the [data-lang] buttons and applies the static strings. */
export function wireLangSwitch(root = document) {
  for (const el of root.querySelectorAll('[data-lang]')) {
    el.addEventListener('click', () => setLang(el.dataset.lang));
  }
  applyStatic(root);
}
